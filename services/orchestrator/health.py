"""The orchestrator's answer to "is your pipeline alive?" (the gateway's `/api/ready` asks it).

A live NATS connection proves little: the issue this answers is an orchestrator whose database work
had stopped while everything else looked fine. So the answer is given on the orchestrator's own event
loop (a frozen process gives none) and reports the pipeline itself:

* the outbox relay and the `jobs` projection each read the event store every poll interval, idle or
  not, and stamp each successful pass; a stamp older than `stale_after_s` means that loop is stuck;
* every command and inbound event is timed while it is handled; one running longer than
  `work_limit_s` is stuck (a hung statement, an exhausted thread pool).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import msgspec

from contracts.commands import HealthReply

Clock = Callable[[], float]


class Stamped(Protocol):
    """A loop that records when its last pass succeeded (`time.monotonic()`, None before the first)."""

    last_ok: float | None


class PipelineHealth:
    """Tracks the relay, the projection and the work in progress; answers health queries."""

    def __init__(
        self,
        loops: dict[str, Stamped],
        *,
        stale_after_s: float = 30.0,
        work_limit_s: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.loops = loops
        self.stale_after_s = stale_after_s
        self.work_limit_s = work_limit_s
        self.clock = clock
        self.started = clock()
        self._work: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()

    @contextlib.asynccontextmanager
    async def working(self, what: str) -> AsyncIterator[None]:
        """Time one piece of work (a command, an inbound event) while it runs."""
        token = next(self._ids)
        self._work[token] = (what, self.clock())
        try:
            yield
        finally:
            del self._work[token]

    def track(self, what: str, handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """`handler` wrapped in `working(what)`."""

        async def tracked(*args: Any) -> Any:
            async with self.working(what):
                return await handler(*args)

        return tracked

    def report(self) -> HealthReply:
        now = self.clock()
        problems: list[str] = []
        ages: dict[str, float] = {}
        for name, loop in self.loops.items():
            age = now - (loop.last_ok if loop.last_ok is not None else self.started)
            ages[name] = round(age, 3)
            if age > self.stale_after_s:
                never = " since start-up" if loop.last_ok is None else ""
                problems.append(f"{name}: no successful pass for {age:.0f} s{never}")
        oldest: float | None = None
        if self._work:
            what, since = min(self._work.values(), key=lambda w: w[1])
            oldest = round(now - since, 3)
            if oldest > self.work_limit_s:
                problems.append(f"{what}: running for {oldest:.0f} s")
        return HealthReply(
            ok=not problems,
            problems=problems,
            loop_ages_s=ages,
            oldest_work_s=oldest,
            in_progress=len(self._work),
        )

    async def answer(self, _data: bytes) -> bytes:
        """The request/reply handler (the query has no fields; any payload is accepted)."""
        return msgspec.json.encode(self.report())
