"""The whole platform as a user runs it: `simswarm up` (one process per service) in a temporary home."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from contracts.events import AnyEvent
from contracts.subjects import DEADLETTER_STREAM, JOB_STREAM
from services.kit.bus import Bus
from services.kit.procs import alive
from simswarm.client import Client
from simswarm.stack import free_port
from simswarm.supervisor import Supervisor


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisor]:
    home: Path = tmp_path_factory.mktemp("platform")
    sup = Supervisor(home=home, port=free_port()).start(ready_timeout=120)
    try:
        yield sup
    finally:
        sup.stop()


@pytest.fixture
def client(platform: Supervisor) -> Iterator[Client]:
    with Client(platform.api_url, (platform.home / "api-key").read_text().strip()) as c:
        yield c


# -- crash-safety helpers (test_crash_safety.py, test_faults.py, test_restart.py) --------------------


class Probe:
    """Reads a platform's job timelines straight from JetStream (independent of the gateway), and
    watches it: a thread calls `sup.check()` (restarting dead services, as `simswarm up` does) and
    records every local pod pid it sees, so a test can assert that none is left alive."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.pod_pids: set[int] = set()
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="probe-loop", daemon=True)
        self._loop_thread.start()
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    # -- supervision -------------------------------------------------------------------------------

    def start_watching(self) -> Probe:
        """Restart dead services from a background thread (`Supervisor.watch` wants the main thread)."""

        def loop() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(Exception):
                    self.sup.check()
                self.pod_pids.update(self.pod_pids_now())
                self._stop.wait(0.2)

        self._stop.clear()
        self._watch = threading.Thread(target=loop, name="probe-watch", daemon=True)
        self._watch.start()
        return self

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.join(timeout=5)
            self._watch = None

    def close(self) -> None:
        self.stop_watching()
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=5)
        self._loop.close()

    def service_pid(self, name: str) -> int:
        proc = self.sup.procs[name].proc
        assert proc is not None
        return proc.pid

    def pod_pids_now(self) -> set[int]:
        pids = set()
        for entry in (self.sup.home / "pods").glob("*.json"):
            with contextlib.suppress(Exception):
                pids.add(int(json.loads(entry.read_text())["pid"]))
        return pids

    def live_pod_pids(self) -> list[int]:
        """Every pod process seen during the test (or registered now) that is still alive."""
        self.pod_pids.update(self.pod_pids_now())
        return sorted(p for p in self.pod_pids if alive(p))

    # -- the bus -----------------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _with_bus(self, fn: Callable[[Bus], Awaitable[T]]) -> T:
        assert self.sup.stack is not None and self.sup.stack.nats is not None
        bus = await Bus.connect(
            self.sup.stack.nats.url, name="e2e-probe", login=self.sup.stack.nats_login("admin")
        )
        try:
            return await fn(bus)
        finally:
            await bus.close()

    def timeline(self, job_id: str) -> list[AnyEvent]:
        """The job's whole event timeline as stored in the stream (malformed entries skipped)."""
        return self.run(self._with_bus(lambda bus: _events(bus, job_id)))

    def wait_for(
        self,
        job_id: str,
        done: Callable[[list[AnyEvent]], bool],
        timeout: float = 120.0,
        what: str = "the expected events",
    ) -> list[AnyEvent]:
        """Poll the timeline until `done(events)`; fail with the timeline seen so far."""
        deadline = time.monotonic() + timeout
        events: list[AnyEvent] = []
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                events = self.timeline(job_id)
                if done(events):
                    return events
            time.sleep(0.1)
        pytest.fail(f"job {job_id}: no {what} within {timeout:.0f}s; timeline: {[e.type for e in events]}")

    def wait_for_type(self, job_id: str, event_type: str, timeout: float = 120.0) -> list[AnyEvent]:
        return self.wait_for(job_id, lambda evs: any(e.type == event_type for e in evs), timeout, event_type)

    def wait_terminal(self, job_id: str, timeout: float = 120.0) -> list[AnyEvent]:
        return self.wait_for(
            job_id,
            lambda evs: any(e.type in TERMINAL for e in evs),
            timeout,
            "terminal event (JobCompleted/JobFailed/JobCancelled)",
        )

    def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> int:
        """Put raw bytes on the job stream, as a broken or hostile publisher would."""

        async def go(bus: Bus) -> int:
            ack = await bus.js.publish(subject, payload, headers=headers, stream=JOB_STREAM)
            return int(ack.seq)

        return self.run(self._with_bus(go))

    def dead_letters(self) -> list[tuple[str, dict[str, str], bytes]]:
        """(subject, headers, payload) of every message in the dead-letter stream."""

        async def go(bus: Bus) -> list[tuple[str, dict[str, str], bytes]]:
            info = await bus.js.stream_info(DEADLETTER_STREAM)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                with contextlib.suppress(Exception):
                    msg = await bus.js.get_msg(DEADLETTER_STREAM, seq)
                    out.append((msg.subject, dict(msg.headers or {}), bytes(msg.data or b"")))
            return out

        return self.run(self._with_bus(go))


TERMINAL = frozenset({"JobCompleted", "JobFailed", "JobCancelled"})
T = TypeVar("T")


async def _events(bus: Bus, job_id: str) -> list[AnyEvent]:
    return [ev for _, ev in await bus.job_events(job_id)]


# The brief and question most e2e tests submit (a small real news item; docs/engine.md).
SEED = """Regulators opened an inquiry after a runway incursion at LaGuardia Airport. The Federal Aviation
Administration said controllers cleared a Delta Air Lines jet onto a runway occupied by a regional jet.
The National Transportation Safety Board sent investigators. Pilots' unions urged faster rules, while
the Port Authority pointed to planned upgrades of surface radar at the airport."""
QUESTION = "Will the FAA order new runway-incursion rules for LaGuardia within 60 days?"


def api_key(sup: Supervisor) -> str:
    """The local user's API key that `sup` wrote to its home."""
    return (sup.home / "api-key").read_text().strip()


def api_client(sup: Supervisor) -> Client:
    return Client(sup.api_url, api_key(sup))


@pytest.fixture
def client_for() -> Callable[[Supervisor], Client]:
    """`client_for(sup)`: an SDK client of that Supervisor's gateway (use it as a context manager)."""
    return api_client


@pytest.fixture
def make_probe() -> Iterator[Callable[[Supervisor], Probe]]:
    """Probes of any Supervisor; all closed (and their watch threads stopped) at the end."""
    made: list[Probe] = []

    def make(sup: Supervisor) -> Probe:
        made.append(Probe(sup))
        return made[-1]

    try:
        yield make
    finally:
        for p in made:
            p.close()


@pytest.fixture
def fresh_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Supervisor]]:
    """Starts dedicated Supervisors for destructive tests; every one started is stopped at the end."""
    started: list[Supervisor] = []

    def start(home: Path | None = None, port: int | None = None) -> Supervisor:
        sup = Supervisor(home=home or tmp_path_factory.mktemp("crash"), port=port or free_port())
        started.append(sup)
        return sup.start(ready_timeout=120)

    try:
        yield start
    finally:
        for sup in reversed(started):
            with contextlib.suppress(Exception):
                sup.stop()
