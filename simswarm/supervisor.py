"""`simswarm up`: the embedded stack plus one OS process per service, restarted when one dies.

Pid files live in `$SIMSWARM_HOME/run/`, logs in `$SIMSWARM_HOME/logs/`. Stopping (Ctrl-C) stops the
services, then the local pods they left, then the servers; the data stays, so the next `up` finds
the old jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from contracts.spec import local_tiers
from services.kit.secretfiles import SECRET_MODE, private_dir, write_secret
from services.kit.settings import load_settings, write_stack_file
from simswarm.stack import EmbeddedStack, StackError

log = logging.getLogger(__name__)

# Start order: the orchestrator first (it answers the gateway's commands), the gateway last.
SERVICES: tuple[str, ...] = ("orchestrator", "podmanager", "reporter", "graph", "gateway")


@dataclass
class ServiceProcess:
    name: str
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0


@dataclass
class Supervisor:
    home: Path
    port: int = 8080
    host: str = "127.0.0.1"
    services: tuple[str, ...] = SERVICES
    stack: EmbeddedStack | None = None
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    # Each service's Prometheus port (not the gateway's: its /metrics route), kept across restarts.
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- start -------------------------------------------------------------------------------

    def start(self, ready_timeout: float = 60.0) -> Supervisor:
        private_dir(self.home)
        self.run_dir.mkdir(exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self._take_lock()
        try:
            self.stack = EmbeddedStack(
                self.home,
                database_url=os.environ.get("DATABASE_URL") or None,
                s3_endpoint=os.environ.get("S3_ENDPOINT") or None,
            ).start()
            # One user on their own machine: the routing table's caps at their absolute maxima.
            write_stack_file(self.home, {**self.stack.settings_values(), "gateway_host": self.host,
                                         "gateway_port": self.port, "tiers": msgspec.to_builtins(local_tiers())})
            asyncio.run(self._bootstrap())
            self._assign_metrics_ports()
            for name in self.services:
                self.procs[name] = ServiceProcess(name)
                self._spawn(self.procs[name])
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _take_lock(self) -> None:
        lock = self.run_dir / "up.pid"
        if lock.exists():
            with contextlib.suppress(ValueError, OSError):
                pid = int(lock.read_text().strip())
                if pid != os.getpid() and _alive(pid):
                    raise StackError(f"SimSwarm is already running from {self.home} (pid {pid}); stop it first")
        lock.write_text(str(os.getpid()))

    async def _bootstrap(self) -> None:
        """Streams, the bucket and the local user's API key (written to `$SIMSWARM_HOME/api-key`, 0600)."""
        from services.gateway.accounts import Accounts, ensure_local_user, ensure_schema
        from services.kit.bus import Bus
        from services.kit.db import create_pool
        from services.kit.objectstore import ObjectStore

        settings = load_settings(home=self.home, env={k: v for k, v in os.environ.items() if k != "SIMSWARM_HOME"})
        bus = await Bus.connect(settings.nats_url, name="supervisor", login=settings.nats_login("admin"))
        try:
            await bus.ensure_streams(settings.stream_replicas)
        finally:
            await bus.close()
        await ObjectStore(settings).ensure_bucket()
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            key_file = self.home / "api-key"
            existing = key_file.read_text().strip() if key_file.exists() else None
            await ensure_schema(pool, "gateway")
            # Keep the key a CLI already uses while it is still valid; mint one otherwise.
            if existing and await Accounts(pool).principal_for(existing) is not None:
                api_key = existing
            else:
                _, api_key = await ensure_local_user(pool)
        finally:
            await pool.close()
        if api_key != existing:
            write_secret(key_file, api_key + "\n")
        os.chmod(key_file, SECRET_MODE)  # a key kept from an older version may have been looser

    def _assign_metrics_ports(self) -> None:
        """A free loopback port per service for its metrics, recorded in `$SIMSWARM_HOME/metrics.json`
        (what to point Prometheus at; docs/operations.md#metrics)."""
        from simswarm.stack import free_port

        self.metrics_ports = {name: free_port() for name in self.services if name != "gateway"}
        targets = {name: f"http://127.0.0.1:{port}/metrics" for name, port in self.metrics_ports.items()}
        targets["gateway"] = f"{self.api_url}/metrics (bearer: the metrics token in {self.home / 'metrics-token'})"
        (self.home / "metrics.json").write_text(json.dumps(targets, indent=2) + "\n")

    def _spawn(self, sp: ServiceProcess) -> None:
        env = dict(os.environ, SIMSWARM_HOME=str(self.home), PYTHONUNBUFFERED="1")
        if sp.name in self.metrics_ports:
            env["SIMSWARM_METRICS_PORT"] = str(self.metrics_ports[sp.name])
        logfile = open(self.log_dir / f"{sp.name}.log", "ab")  # noqa: SIM115 - owned by the child
        sp.proc = subprocess.Popen(
            [sys.executable, "-m", "simswarm.cli", "serve", sp.name],
            stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        logfile.close()
        sp.started_at = time.monotonic()
        (self.run_dir / f"{sp.name}.pid").write_text(str(sp.proc.pid))

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except Exception:
                time.sleep(0.2)
        raise StackError(f"the gateway did not become ready at {self.api_url} within {timeout:.0f}s; "
                         f"see {self.log_dir}/gateway.log")

    # -- watch -------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Restart any service that died (with backoff); returns the names restarted now."""
        restarted = []
        now = time.monotonic()
        for sp in self.procs.values():
            if sp.proc is None or sp.proc.poll() is None:
                continue
            if sp.next_start == 0.0:
                # Back off when a service keeps dying right after its start.
                quick = now - sp.started_at < 10
                delay = min(30.0, 0.5 * 2 ** min(sp.restarts, 6)) if quick else 0.5
                sp.next_start = now + delay
                log.warning("%s exited with code %s; restarting in %.1fs (see %s)",
                            sp.name, sp.proc.returncode, delay, self.log_dir / f"{sp.name}.log")
            elif now >= sp.next_start:
                sp.restarts += 1
                sp.next_start = 0.0
                self._spawn(sp)
                restarted.append(sp.name)
        return restarted

    def watch(self, stop: asyncio.Event | None = None, interval: float = 0.5) -> None:
        """Block until SIGINT/SIGTERM (or `stop`), restarting dead services."""
        stopping = {"now": False}

        def on_signal(signum: int, frame: object) -> None:
            stopping["now"] = True

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping["now"] and not (stop and stop.is_set()):
                self.check()
                time.sleep(interval)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name].proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name in reversed(list(self.procs)):
            proc = self.procs[name].proc
            if proc is None:
                continue
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / f"{name}.pid").unlink()
        self._stop_local_pods()
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / "up.pid").unlink()

    def _stop_local_pods(self) -> None:
        """Local pods are this machine's processes: none may outlive the stack that started them."""
        for entry in sorted((self.home / "pods").glob("*.json")):
            with contextlib.suppress(Exception):
                pid = int(json.loads(entry.read_text())["pid"])
                if _alive(pid):
                    os.kill(pid, signal.SIGTERM)
                    for _ in range(50):
                        if not _alive(pid):
                            break
                        time.sleep(0.1)
                    else:
                        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True
