"""The `local` provider: a pod is the engine's worker API running as a subprocess on this machine.

Its "API" is a registry directory: `<dir>/<name>.json` (mode 0600) holds pid, port, created_at and the
process start time (so a reused pid is never mistaken for our worker), `<dir>/<name>.log` the worker's
output. Workers start in their own session, so they outlive a podmanager crash and are found again
by the next one (and by the reaper).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from services.kit.procs import start_ticks
from services.podmanager.naming import POD_PREFIX, pod_token
from services.podmanager.providers.base import (
    PodInfo,
    PodProvisionError,
    TerminationInfo,
    WorkerEndpoint,
)

log = logging.getLogger(__name__)

TOKEN_ENV = "SIMSWARM_POD_TOKEN"
# Only these of the podmanager's own variables reach a pod: it must never see the platform's secrets.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "SIMSWARM_HOME")
_PROJECT_ROOT = Path(__file__).resolve().parents[3]


class _Entry(msgspec.Struct, kw_only=True):
    name: str
    pid: int
    port: int
    created_at: float
    start_ticks: int | None


def default_command() -> list[str]:
    """The worker command line; `{port}` is replaced by the chosen port."""
    return [sys.executable, "-m", "engine.worker", "--host", "127.0.0.1", "--port", "{port}"]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reap_on_exit(proc: subprocess.Popen[bytes], name: str) -> None:
    """Wait for the child in a daemon thread, so it is reaped the moment it exits (teardown, crash).

    Without a waiter an exited worker stays a zombie until someone happens to poll it, and one
    started by an earlier provider object in this process is never polled at all. A thread per
    pod (what asyncio's ThreadedChildWatcher does) works whatever event loop is running, and
    the pod outlives any one loop.
    """
    threading.Thread(target=proc.wait, name=f"reap-{name}", daemon=True).start()


class LocalProvider:
    """Pods as local worker subprocesses, tracked in a registry directory."""

    name = "local"

    def __init__(
        self,
        registry: Path,
        *,
        secret: str,
        command: list[str] | None = None,
        extra_env: dict[str, str] | None = None,
        stop_grace_s: float = 5.0,
    ) -> None:
        self.registry = Path(registry)
        self._secret = secret
        self._command = command or default_command()
        self._extra_env = dict(extra_env or {})
        self._stop_grace_s = stop_grace_s
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- the registry ------------------------------------------------------------------------------

    def _entry_path(self, name: str) -> Path:
        if not name.startswith(POD_PREFIX) or "/" in name or name.startswith("."):
            raise PodProvisionError(f"invalid pod name {name!r}")
        return self.registry / f"{name}.json"

    def log_path(self, name: str) -> Path:
        """Where the worker's stdout and stderr go."""
        return self.registry / f"{name}.log"

    def work_dir(self, name: str) -> Path:
        """Where the worker writes its run files; removed with the pod."""
        return self.registry / f"{name}.work"

    def _read(self, path: Path) -> _Entry | None:
        try:
            return msgspec.json.decode(path.read_bytes(), type=_Entry)
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("ignoring unreadable pod registry entry %s", path.name)
            return None

    def _write(self, entry: _Entry) -> None:
        self.registry.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._entry_path(entry.name)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(msgspec.json.encode(entry))
        tmp.replace(path)

    def _alive(self, entry: _Entry) -> bool:
        child = self._children.get(entry.pid)
        if child is not None:
            # Our own child: its reaper thread sets returncode once it has waited for it; until
            # then the pid cannot be reused, so it is still our worker.
            if child.returncode is None:
                return True
            self._children.pop(entry.pid, None)
            return False
        ticks = start_ticks(entry.pid)
        if ticks is None:
            return False
        return entry.start_ticks is None or ticks == entry.start_ticks

    def _info(self, entry: _Entry) -> PodInfo:
        return PodInfo(
            name=entry.name,
            pod_id=f"local-{entry.pid}",
            provider=self.name,
            status="running" if self._alive(entry) else "exited",
            worker_url=f"http://127.0.0.1:{entry.port}",
            gpu_type=None,
            cost_per_hour=0.0,
            created_at=datetime.fromtimestamp(entry.created_at, UTC),
        )

    # -- the provider interface --------------------------------------------------------------------

    async def provision(self, name: str, *, gpu_types: list[str], env: dict[str, str]) -> PodInfo:
        """Start the worker subprocess, or return the registered pod with this name (alive or exited)."""
        async with self._locks.setdefault(name, asyncio.Lock()):
            existing = self._read(self._entry_path(name))
            if existing is not None:
                return self._info(existing)
            return await asyncio.to_thread(self._spawn, name, env)

    def _spawn(self, name: str, env: dict[str, str]) -> PodInfo:
        self.registry.mkdir(parents=True, exist_ok=True, mode=0o700)
        port = free_port()
        child_env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
        if (_PROJECT_ROOT / "engine").is_dir():
            child_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(_PROJECT_ROOT), child_env.get("PYTHONPATH", "")) if p
            )
        child_env["SIMSWARM_WORK_DIR"] = str(self.work_dir(name))
        child_env.update(self._extra_env)
        child_env.update(env)
        child_env[TOKEN_ENV] = pod_token(self._secret, name)  # env only: never argv, events or logs
        argv = [part.replace("{port}", str(port)) for part in self._command]
        log_fd = os.open(self.log_path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv is ours
                argv,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise PodProvisionError(f"could not start the local worker: {exc}") from exc
        finally:
            os.close(log_fd)
        self._children[proc.pid] = proc
        reap_on_exit(proc, name)
        entry = _Entry(
            name=name,
            pid=proc.pid,
            port=port,
            created_at=time.time(),
            start_ticks=start_ticks(proc.pid),
        )
        self._write(entry)
        log.info("started local pod %s (pid %d, port %d)", name, proc.pid, port)
        return self._info(entry)

    async def find(self, name: str) -> PodInfo | None:
        """The registered pod with this name; a dead process is reported with status `exited`."""
        entry = self._read(self._entry_path(name))
        return self._info(entry) if entry else None

    async def list_pods(self) -> list[PodInfo]:
        """Every registered pod (running or exited)."""
        if not self.registry.is_dir():
            return []
        pods = []
        for path in sorted(self.registry.glob(f"{POD_PREFIX}*.json")):
            entry = self._read(path)
            if entry is not None:
                pods.append(self._info(entry))
        return pods

    async def terminate(self, pod_id_or_name: str) -> TerminationInfo:
        """SIGTERM the worker's process group, SIGKILL after the grace period, drop the entry."""
        name = await self._resolve(pod_id_or_name)
        if name is None:
            return TerminationInfo(name=pod_id_or_name, pod_id=None, existed=False)
        async with self._locks.setdefault(name, asyncio.Lock()):
            path = self._entry_path(name)
            entry = self._read(path)
            if entry is None:
                return TerminationInfo(name=name, pod_id=None, existed=False)
            alive = self._alive(entry)
            if alive:
                await self._stop(entry)
            path.unlink(missing_ok=True)
            await asyncio.to_thread(shutil.rmtree, self.work_dir(name), True)
            billed = max(0.0, time.time() - entry.created_at)
            log.info("terminated local pod %s (pid %d)", name, entry.pid)
            return TerminationInfo(
                name=name, pod_id=f"local-{entry.pid}", existed=alive, billed_seconds=billed, cost=0.0
            )

    async def _resolve(self, pod_id_or_name: str) -> str | None:
        if pod_id_or_name.startswith(POD_PREFIX):
            return pod_id_or_name
        for pod in await self.list_pods():
            if pod.pod_id == pod_id_or_name:
                return pod.name
        return None

    async def _stop(self, entry: _Entry) -> None:
        for sig, wait_s in ((signal.SIGTERM, self._stop_grace_s), (signal.SIGKILL, 5.0)):
            if not self._alive(entry):
                return
            try:
                os.killpg(entry.pid, sig)  # its own session: the group is the worker and its children
            except ProcessLookupError:
                return
            except PermissionError:
                os.kill(entry.pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if not self._alive(entry):
                    return
                await asyncio.sleep(0.05)
        if self._alive(entry):
            raise PodProvisionError(f"pod {entry.name} (pid {entry.pid}) did not stop after SIGKILL")

    def endpoint(self, pod: PodInfo) -> WorkerEndpoint:
        """The worker's loopback URL and the token it was started with."""
        if not pod.worker_url:
            raise PodProvisionError(f"pod {pod.name} has no worker URL")
        return WorkerEndpoint(base_url=pod.worker_url, token=pod_token(self._secret, pod.name))

    async def aclose(self) -> None:
        """Nothing to release: the workers keep running until terminated."""


def registry_snapshot(registry: Path) -> dict[str, dict[str, object]]:
    """The raw registry (for diagnostics and tests): name -> entry."""
    out: dict[str, dict[str, object]] = {}
    for path in sorted(Path(registry).glob(f"{POD_PREFIX}*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return out
