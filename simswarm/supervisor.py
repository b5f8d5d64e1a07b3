"""`simswarm up`: the embedded stack plus one OS process per service, restarted when one dies.

The servers (NATS, PostgreSQL, SeaweedFS) are watched the same way: one that dies is started again
in the same directory on the same port, so the services reconnect to it. A restart waits 0.5 s,
doubling (up to 30 s) while the same process keeps dying soon after its start, and the back-off
starts over once it has run for `HEALTHY_AFTER_S`.

Pid files live in `$SIMSWARM_HOME/run/`, logs in `$SIMSWARM_HOME/logs/`. Stopping (Ctrl-C) stops the
services, then the local pods they left, then the servers; the data stays, so the next `up` finds
the old jobs. Services and servers get SIGTERM when `up` itself dies, even by SIGKILL (Linux:
PR_SET_PDEATHSIG); PostgreSQL and local pods, which run outside `up`'s process tree, are stopped by
its guard (`simswarm.guard`), and the next `up` stops anything still left before it starts.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from contracts.spec import local_tiers
from services.kit import procs
from services.kit.secretfiles import SECRET_MODE, private_dir, write_secret
from services.kit.settings import environment_settings, write_stack_file
from simswarm.guard import (
    UP_PID,
    cleanup_lock,
    home_settings,
    start_guard,
    stop_leftovers,
    stop_local_pods,
)
from simswarm.stack import EmbeddedStack, StackError, child_options

log = logging.getLogger(__name__)

# Start order: the orchestrator first (it answers the gateway's commands), the gateway last.
SERVICES: tuple[str, ...] = ("orchestrator", "podmanager", "reporter", "graph", "gateway")
HEALTHY_AFTER_S = 30.0  # a process that ran this long before dying is restarted with no back-off
MAX_BACKOFF_S = 30.0


def restart_delay(quick_deaths: int) -> float:
    """0.5 s after the first death, doubling with each death soon after a start, at most 30 s."""
    return min(MAX_BACKOFF_S, 0.5 * 2 ** min(quick_deaths, 6))


MAX_REPLICAS = 16


def parse_replicas(text: str) -> dict[str, int]:
    """`orchestrator=2,podmanager=2` -> {"orchestrator": 2, "podmanager": 2}; ValueError naming the problem."""
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep or name not in SERVICES:
            raise ValueError(f"{item!r} is not SERVICE=N with SERVICE one of {', '.join(SERVICES)}")
        try:
            n = int(count)
        except ValueError:
            raise ValueError(f"{item!r}: N must be a whole number") from None
        if not 1 <= n <= MAX_REPLICAS:
            raise ValueError(f"{item!r}: N must be between 1 and {MAX_REPLICAS}")
        if name == "gateway" and n != 1:
            raise ValueError(
                "the gateway runs once: it owns the port (run more behind a load balancer yourself)"
            )
        out[name] = n
    return out


@dataclass
class ServiceProcess:
    """One process of a service: `name` is `<service>` for the first replica, `<service>-<i>` after."""

    name: str
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    quick_deaths: int = 0  # deaths in a row, each before HEALTHY_AFTER_S had passed since its start
    service: str = ""  # what it runs (`simswarm serve <service>`); the name's when empty

    @property
    def command(self) -> str:
        return self.service or self.name


@dataclass
class ServerPart:
    """A server of the embedded stack, watched like a service: `alive()` and `restart()` in place."""

    name: str
    alive: Callable[[], bool]
    restart: Callable[[], object]
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    quick_deaths: int = 0


@dataclass
class Supervisor:
    home: Path
    port: int = 8080
    host: str = "127.0.0.1"
    services: tuple[str, ...] = SERVICES
    stack: EmbeddedStack | None = None
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    parts: dict[str, ServerPart] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)  # processes per service (default 1)
    # Each process's Prometheus port (not the gateway's: its /metrics route), kept across restarts.
    metrics_ports: dict[str, int] = field(default_factory=dict)
    guard: subprocess.Popen[bytes] | None = None  # stops what `up` leaves if it dies unstopped

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
            with cleanup_lock(self.home):
                stop_leftovers(self.home)
            self.guard = start_guard(self.home)
            given = environment_settings()  # an operator's own database or S3: not started here
            self.stack = EmbeddedStack(
                self.home,
                database_url=given.get("database_url"),
                s3_endpoint=given.get("s3_endpoint"),
                die_with_parent=True,
            ).start()
            self.watch_parts()
            # One user on their own machine: the routing table's caps at their absolute maxima.
            write_stack_file(
                self.home,
                {
                    **self.stack.settings_values(),
                    "gateway_host": self.host,
                    "gateway_port": self.port,
                    "tiers": msgspec.to_builtins(local_tiers()),
                },
            )
            asyncio.run(self._bootstrap())
            self._assign_metrics_ports()
            for sp in self.process_plan():
                self.procs[sp.name] = sp
                self._spawn(sp)
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _take_lock(self) -> None:
        lock = self.run_dir / UP_PID
        if lock.exists():
            with contextlib.suppress(ValueError, OSError):
                pid = int(lock.read_text().strip())
                if pid != os.getpid() and procs.alive(pid):
                    raise StackError(
                        f"SimSwarm is already running from {self.home} (pid {pid}); stop it first"
                    )
        lock.write_text(str(os.getpid()))

    def process_plan(self) -> list[ServiceProcess]:
        """One process per replica of each service, in start order."""
        return [
            ServiceProcess(service if i == 1 else f"{service}-{i}", service=service)
            for service in self.services
            for i in range(1, self.replicas.get(service, 1) + 1)
        ]

    def watch_parts(self) -> None:
        """Watch the servers this stack started (not those given by URL) from now on."""
        stack = self.stack
        if stack is None:
            return
        now = time.monotonic()
        for name, part in (("nats", stack.nats), ("postgres", stack.postgres), ("seaweedfs", stack.s3)):
            if part is not None:
                restart = part.restart if name == "postgres" else part.start  # type: ignore[union-attr]
                self.parts[name] = ServerPart(name, alive=part.alive, restart=restart, started_at=now)

    async def _bootstrap(self) -> None:
        """Streams, the bucket and the local user's API key (written to `$SIMSWARM_HOME/api-key`, 0600)."""
        from services.gateway.accounts import Accounts, ensure_local_user, ensure_schema
        from services.kit.bus import Bus
        from services.kit.db import create_pool
        from services.kit.objectstore import ObjectStore

        settings = home_settings(self.home)
        bus = await Bus.connect(settings.nats_url, name="supervisor", login=settings.nats_login("admin"))
        try:
            await bus.ensure_streams(settings.stream_replicas)
        finally:
            await bus.close()
        async with ObjectStore(settings) as store:
            await store.ensure_bucket()
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

        self.metrics_ports = {sp.name: free_port() for sp in self.process_plan() if sp.command != "gateway"}
        targets = {name: f"http://127.0.0.1:{port}/metrics" for name, port in self.metrics_ports.items()}
        targets["gateway"] = (
            f"{self.api_url}/metrics (bearer: the metrics token in {self.home / 'metrics-token'})"
        )
        (self.home / "metrics.json").write_text(json.dumps(targets, indent=2) + "\n")

    def _spawn(self, sp: ServiceProcess) -> None:
        env = dict(os.environ, SIMSWARM_HOME=str(self.home), PYTHONUNBUFFERED="1")
        if sp.name in self.metrics_ports:
            env["SIMSWARM_METRICS_PORT"] = str(self.metrics_ports[sp.name])
        logfile = open(self.log_dir / f"{sp.name}.log", "ab")  # noqa: SIM115 - owned by the child
        sp.proc = subprocess.Popen(  # type: ignore[call-overload]
            [sys.executable, "-m", "simswarm.cli", "serve", sp.command],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            **child_options(True),
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
        raise StackError(
            f"the gateway did not become ready at {self.api_url} within {timeout:.0f}s; "
            f"see {self.log_dir}/gateway.log"
        )

    # -- watch -------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Restart any server or service that died (with back-off); returns the names restarted now.
        Servers first: a service restarted before its server would only die again."""
        return self._check_parts() + self._check_services()

    def _check_services(self) -> list[str]:
        restarted = []
        now = time.monotonic()
        for sp in self.procs.values():
            if sp.proc is None or sp.proc.poll() is None:
                continue
            if sp.next_start == 0.0:
                delay = _schedule(sp, now)
                log.warning(
                    "%s exited with code %s; restarting in %.1fs (see %s)",
                    sp.name,
                    sp.proc.returncode,
                    delay,
                    self.log_dir / f"{sp.name}.log",
                )
            elif now >= sp.next_start:
                sp.restarts += 1
                sp.next_start = 0.0
                self._spawn(sp)
                restarted.append(sp.name)
        return restarted

    def _check_parts(self) -> list[str]:
        restarted = []
        for part in self.parts.values():
            now = time.monotonic()
            if part.alive():
                continue
            if part.next_start == 0.0:
                delay = _schedule(part, now)
                log.warning("%s is down; restarting it in %.1fs", part.name, delay)
            elif now >= part.next_start:
                part.restarts += 1
                part.next_start = 0.0
                part.started_at = time.monotonic()
                try:
                    part.restart()
                except Exception as exc:  # it died again at once: the next check backs off further
                    log.warning("%s did not restart: %s", part.name, exc)
                    continue
                restarted.append(part.name)
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
        """Services (all at once), then the local pods they left, then the servers, then the guard."""
        alive = [sp.proc.pid for sp in self.procs.values() if sp.proc is not None and sp.proc.poll() is None]
        procs.stop(alive, timeout=15)
        for name, sp in self.procs.items():
            if sp.proc is not None:
                sp.proc.poll()  # its exit status, now that the wait reaped it
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / f"{name}.pid").unlink()
        with contextlib.suppress(Exception):  # a broken registry must not keep the servers up
            stop_local_pods(self.home)
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / UP_PID).unlink()
        if self.guard is not None:  # nothing left for it: the closed pipe and the missing up.pid say so
            assert self.guard.stdin is not None
            self.guard.stdin.close()
            try:
                self.guard.wait(timeout=30)
            except subprocess.TimeoutExpired:  # stuck: it has nothing to do anyway
                procs.stop([self.guard.pid])
                self.guard.poll()
            self.guard = None


def _schedule(p: ServiceProcess | ServerPart, now: float) -> float:
    """When to restart `p`, which has just been found dead: the back-off grows only while it keeps
    dying soon after its starts, and starts over after a healthy period."""
    if now - p.started_at >= HEALTHY_AFTER_S:
        p.quick_deaths = 0
    delay = restart_delay(p.quick_deaths)
    p.quick_deaths += 1
    p.next_start = now + delay
    return delay
