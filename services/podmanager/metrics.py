"""The pod manager's metrics: pods alive (from its table), pod-seconds and cost (from each
PodTerminated it publishes), engine rounds (from RunProgressed) and rounds per second (RunCompleted).

Counted at publish, not at handling, so a redelivered message whose event the stream drops as a
duplicate is not counted twice (docs/operations.md#metrics).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from contracts.events import PodTerminated, RunCompleted, RunProgressed
from services.kit import metrics
from services.kit.periodic import every
from services.podmanager.runs import EventBus

log = logging.getLogger(__name__)

ALIVE_STATES = ("provisioned", "ready", "unhealthy")


class MeteredBus:
    """The pod manager's publisher: the bus, counting each event the stream took (not a duplicate)."""

    def __init__(self, bus: EventBus, provider: str) -> None:
        self._bus = bus
        self._provider = provider
        self._rounds: dict[str, int] = {}  # run id -> its rounds, from RunProgressed, until RunCompleted

    async def publish(self, event: Any) -> Any:
        ack = await self._bus.publish(event)
        if not getattr(ack, "duplicate", False):
            self.observe(event)
        return ack

    def observe(self, event: Any) -> None:
        """Add what a newly published event says to the counters."""
        if isinstance(event, PodTerminated):
            if event.billed_seconds is not None:
                metrics.POD_SECONDS.labels(self._provider).inc(max(0.0, event.billed_seconds))
            if event.cost is not None:  # a local pod costs 0.0: the series exists, at zero
                metrics.POD_COST.labels(self._provider).inc(max(0.0, event.cost))
        elif isinstance(event, RunProgressed):
            metrics.ENGINE_ROUNDS.inc()
            if len(self._rounds) > 10_000:
                self._rounds.clear()
            self._rounds[event.run_id] = event.rounds
        elif isinstance(event, RunCompleted):
            rounds = self._rounds.pop(event.run_id, 0)
            if rounds and event.engine_seconds > 0:
                metrics.ENGINE_ROUNDS_PER_SECOND.set(rounds / event.engine_seconds)


async def refresh_pods_alive(
    pool: asyncpg.Pool, stop: asyncio.Event, provider: str, interval: float = 5.0
) -> None:
    """Keep `simswarm_pods_alive{provider}` equal to the table's live pods until `stop` is set (this
    service's provider is always a series, at 0 when none is alive)."""
    seen: set[str] = {provider}

    async def refresh() -> None:
        rows = await pool.fetch(
            "SELECT coalesce(provider, 'unknown') AS provider, count(*) AS n FROM podmanager.pods "
            "WHERE state = ANY($1::text[]) GROUP BY 1",
            list(ALIVE_STATES),
        )
        counts = {r["provider"]: int(r["n"]) for r in rows}
        for name in seen | counts.keys():
            metrics.PODS_ALIVE.labels(name).set(counts.get(name, 0))
        seen.update(counts.keys())

    # the database away: the gauge keeps its last values
    await every(interval, stop, refresh, what="pods alive", log=log, level=logging.DEBUG)
