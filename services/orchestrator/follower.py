"""What the outbox relay and the jobs projection share: following the notification log.

Each keeps its position under its `name` in a table of its own (`<schema>.<position_table>`, made by
its idempotent `ddl()`: both are read models of the log, rebuilt rather than migrated), does one
pass over what was recorded since (`step`), is woken by every save and polls as a safety net
(another replica's saves wake no one here), and stamps `last_ok` after each successful pass for the
health answer. A failing pass (the database or NATS away) is logged and retried a second later:
the loop ends only when `stop` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import KW_ONLY, dataclass, field
from typing import ClassVar

import asyncpg

from services.kit.db import migrate

log = logging.getLogger(__name__)


@dataclass
class LogFollower:
    """Runs `step()` whenever woken, or every `poll_interval` seconds, until stopped."""

    _: KW_ONLY
    pool: asyncpg.Pool
    schema: str
    name: str  # its row in the position table
    poll_interval: float = 1.0
    # monotonic time of the last successful pass or page (services.orchestrator.health)
    last_ok: float | None = field(default=None, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    what: ClassVar[str] = "log follower"  # names it in the logs
    position_table: ClassVar[str]  # in `schema`: (name text PRIMARY KEY, position bigint NOT NULL)

    def ddl(self) -> list[str]:
        """Its tables in `schema`, the position table among them (idempotent DDL)."""
        raise NotImplementedError

    async def migrate(self) -> None:
        await migrate(self.pool, self.schema, self.ddl())

    async def position(self) -> int:
        """How far it has followed the log (0 before its first pass)."""
        table = f'"{self.schema}".{self.position_table}'
        value = await self.pool.fetchval(f"SELECT position FROM {table} WHERE name = $1", self.name)
        return int(value or 0)

    def wake(self) -> None:
        """New events were saved: catch up now rather than at the next poll."""
        self._wake.set()

    async def step(self) -> object:
        """One pass over what was recorded since the last one."""
        raise NotImplementedError

    def forget(self) -> None:
        """After a failed pass: drop what may no longer hold (caches)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the log until `stop` is set."""
        while not stop.is_set():
            self._wake.clear()  # before the work, so a save during it is not missed
            try:
                await self.step()
            except Exception as exc:  # Postgres or NATS unavailable: nothing is lost, try again
                log.warning("%s: pass failed, retrying: %s", self.what, exc)
                self.forget()
                await asyncio.sleep(1.0)
                continue
            self.last_ok = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
