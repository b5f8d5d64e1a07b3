"""The outbox relay: the notification log -> JetStream, publish first, then record the position.

The position lives in `<schema>.relay_position` and moves only after every PubAck of a page. A crash
between publishing and recording republishes the same events with the same `Nats-Msg-Id` (deterministic
from job id and aggregate version), which JetStream drops within its duplicate window. No dual write:
the event store is the only thing written by the decision; the relay is the only publisher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field

import msgspec

from contracts.events import Event
from contracts.subjects import job_subject
from services.kit.bus import Bus
from services.orchestrator.application import OrchestratorApplication, SetAside
from services.orchestrator.follower import LogFollower

log = logging.getLogger(__name__)

PAGE = 500


@dataclass
class Relay(LogFollower):
    """Publishes the orchestrator's decisions from its notification log, in log order."""

    app: OrchestratorApplication
    bus: Bus
    _: KW_ONLY
    schema: str = "orchestrator"
    name: str = "jetstream"
    on_set_aside: Callable[[SetAside], Awaitable[None]] | None = None
    published: int = field(default=0, init=False)
    duplicates: int = field(default=0, init=False)
    set_aside: int = field(default=0, init=False)

    what = "relay"
    position_table = "relay_position"

    def ddl(self) -> list[str]:
        return [
            f'CREATE TABLE IF NOT EXISTS "{self.schema}".relay_position '
            "(name text PRIMARY KEY, position bigint NOT NULL)"
        ]

    async def step(self) -> int:
        return await self.relay_once()

    async def record_position(self, position: int) -> None:
        """Only ever moves forward (two replicas relaying the same page agree)."""
        await self.pool.execute(
            f'INSERT INTO "{self.schema}".relay_position (name, position) VALUES ($1, $2) ON CONFLICT (name) '
            f'DO UPDATE SET position = GREATEST("{self.schema}".relay_position.position, EXCLUDED.position)',
            self.name,
            position,
        )

    async def publish_page(self, after: int, limit: int = PAGE) -> tuple[int, int]:
        """Publish the events after `after` (one page), without recording anything.

        Returns (last notification id seen, number published). Split from `relay_once` so a test can
        show what a crash between PubAck and the position write leads to.
        """
        page = await asyncio.to_thread(self.app.contract_events_after, after, limit)
        last, count = after, 0
        for nid, event in page:
            if isinstance(event, SetAside):
                await self._set_aside(event)
            elif event is not None:
                await self._publish(event)
                count += 1
            last = nid
        return last, count

    async def _set_aside(self, item: SetAside) -> None:
        log.error(
            "relay: job %s: stored %s (version %d) set aside: %s",
            item.job_id,
            item.name,
            item.version,
            item.reason,
        )
        self.set_aside += 1
        payload = msgspec.json.encode(
            {"job_id": item.job_id, "event": item.name, "version": item.version, "reason": item.reason}
        )
        await self.bus.dead_letter(
            payload,
            reason=f"unpublishable {item.name}: {item.reason}",
            source_subject=job_subject(item.job_id, item.name),
            seq=None,
        )
        if self.on_set_aside is not None:
            try:
                await self.on_set_aside(item)
            except Exception:  # the event is set aside already; failing its job is best effort
                log.exception("relay: failing job %s after a set-aside event failed", item.job_id)

    async def _publish(self, event: Event) -> None:
        ack = await self.bus.publish(event)
        if ack.duplicate:
            self.duplicates += 1
            log.debug("relay: %s %s already in the stream (seq %s)", event.type, event.event_id, ack.seq)
        else:
            self.published += 1

    async def relay_once(self) -> int:
        """Relay everything recorded so far, page by page; returns how many events were published."""
        total = 0
        position = await self.position()
        while True:
            last, count = await self.publish_page(position)
            total += count
            if last == position:
                return total
            await self.record_position(last)
            self.last_ok = time.monotonic()  # a long backlog is progress, not a stuck relay
            position = last
