"""The two loops that drive the saga besides commands: inbound JetStream events and durable timers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from contracts.events import AnyEvent, RunProgressed, encode_event
from services.kit.bus import Delivery
from services.kit.periodic import every
from services.orchestrator.application import OrchestratorApplication
from services.orchestrator.projection import JobsProjection

log = logging.getLogger(__name__)


class DeadLetter(Protocol):
    """`Bus.dead_letter`'s shape."""

    async def __call__(
        self, payload: bytes, *, reason: str, source_subject: str, seq: int | None
    ) -> None: ...


@dataclass
class InboundHandler:
    """Consumer callback: one inbound event, processed exactly once in effect.

    `upstream` names the tracking row (the durable consumer); positions are JetStream stream
    sequences, so the consumer must deliver in order (max_ack_pending=1). An event that cannot be
    applied is tracked and acked like any other (its job failed by the application) and a copy goes
    to `dead_letter`: with one message in flight, retrying it would hold up every job.
    """

    app: OrchestratorApplication
    upstream: str
    on_saved: Callable[[], None]
    dead_letter: DeadLetter | None = None
    processed: int = field(default=0, init=False)
    duplicates: int = field(default=0, init=False)
    poisoned: int = field(default=0, init=False)

    async def __call__(self, event: AnyEvent, delivery: Delivery) -> None:
        result = await asyncio.to_thread(self.app.process_inbound, event, self.upstream, delivery.seq)
        if result.duplicate:
            self.duplicates += 1
            log.info("redelivered %s (seq %s) already processed; acknowledged", event.type, delivery.seq)
            return
        self.processed += 1
        if result.poison is not None:
            self.poisoned += 1
            if self.dead_letter is not None:
                await self.dead_letter(
                    encode_event(event),
                    reason=f"not applied: {result.poison}",
                    source_subject=delivery.subject,
                    seq=delivery.seq,
                )
        if result.new_events:
            log.info("job %s: %s -> %s", event.job_id, event.type, ", ".join(result.event_names))
            self.on_saved()


LastProgress = Callable[[str], Awaitable[RunProgressed | None]]


async def run_timers(
    app: OrchestratorApplication,
    projection: JobsProjection,
    stop: asyncio.Event,
    on_saved: Callable[[], None],
    interval: float = 10.0,
    last_progress: LastProgress | None = None,
) -> None:
    """Fire due durable timers. Due times live in the aggregates (indexed by the projection), so a
    restart loses none; firing is guarded by the aggregate, so firing twice changes nothing.
    `last_progress(job_id)` reads the job's newest RunProgressed from the bus (progress is telemetry,
    not on the aggregate), for the running watchdog."""

    async def fire_due() -> None:
        now = datetime.now(UTC)
        for job_id in await projection.due_jobs(now):
            progress = await last_progress(job_id) if last_progress is not None else None
            result = await asyncio.to_thread(app.fire_timers, job_id, now, progress)
            if result.changed:
                log.info("job %s: timer fired", job_id)
                on_saved()

    await every(interval, stop, fire_due, what="timer loop", log=log)
