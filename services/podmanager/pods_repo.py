"""The pod manager's own table, `podmanager.pods`: what it asked for, and tombstones.

A pod name that was torn down is never provisioned again, whatever arrives later (a redelivered
PodRequested after a cancel, say). Holds no secret: tokens are derived, never stored.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.kit.db import apply_migrations, sql_migrations
from services.kit.pgtext import storable_text

SCHEMA = "podmanager"
TOMBSTONED = ("terminating", "terminated")


class PodRepository:
    """Rows of `podmanager.pods`, one per pod name."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def migrate(self) -> None:
        """Bring the schema and table to the latest version (services/podmanager/migrations/*.sql)."""
        await apply_migrations(self._pool, SCHEMA, "pods", sql_migrations("services.podmanager.migrations"))

    async def get(self, name: str) -> dict[str, Any] | None:
        """The row of this pod name, or None."""
        row = await self._pool.fetchrow("SELECT * FROM podmanager.pods WHERE pod_name = $1", name)
        return dict(row) if row else None

    async def is_tombstoned(self, name: str) -> bool:
        """True once a teardown was recorded for this name."""
        state = await self._pool.fetchval("SELECT state FROM podmanager.pods WHERE pod_name = $1", name)
        return state in TOMBSTONED

    async def tombstoned(self, names: list[str]) -> set[str]:
        """Which of these names are tombstoned."""
        rows = await self._pool.fetch(
            "SELECT pod_name FROM podmanager.pods WHERE pod_name = ANY($1::text[]) AND state = ANY($2::text[])",
            names,
            list(TOMBSTONED),
        )
        return {r["pod_name"] for r in rows}

    async def record_requested(self, name: str, job_id: str, attempt: int, provider: str) -> None:
        """Note a provisioning request (a no-op if the name is known)."""
        await self._pool.execute(
            """INSERT INTO podmanager.pods (pod_name, job_id, attempt, provider, state)
               VALUES ($1, $2, $3, $4, 'requested') ON CONFLICT (pod_name) DO NOTHING""",
            name,
            job_id,
            attempt,
            provider,
        )

    async def set_state(
        self,
        name: str,
        state: str,
        *,
        pod_id: str | None = None,
        worker_url: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Advance a live row (never resurrects a tombstoned one)."""
        await self._pool.execute(
            """UPDATE podmanager.pods SET state = $2, pod_id = COALESCE($3, pod_id),
                   worker_url = COALESCE($4, worker_url), reason = COALESCE($5, reason), updated_at = now()
               WHERE pod_name = $1 AND state <> ALL($6::text[])""",
            name,
            state,
            pod_id,
            worker_url,
            None if reason is None else storable_text(reason),
            list(TOMBSTONED),
        )

    async def tombstone(self, name: str, job_id: str, attempt: int, reason: str) -> None:
        """Record that this pod name is being torn down: from now on it is never provisioned."""
        await self._pool.execute(
            """INSERT INTO podmanager.pods (pod_name, job_id, attempt, state, reason)
               VALUES ($1, $2, $3, 'terminating', $4)
               ON CONFLICT (pod_name) DO UPDATE SET
                   state = CASE WHEN podmanager.pods.state = 'terminated' THEN 'terminated' ELSE 'terminating' END,
                   reason = COALESCE(podmanager.pods.reason, EXCLUDED.reason), updated_at = now()""",
            name,
            job_id,
            attempt,
            storable_text(reason),  # an event's text: it may hold a NUL
        )

    async def mark_terminated(self, name: str, pod_id: str | None) -> None:
        """The pod is gone."""
        await self._pool.execute(
            """UPDATE podmanager.pods SET state = 'terminated', pod_id = COALESCE($2, pod_id),
                   terminated_at = COALESCE(terminated_at, now()), updated_at = now()
               WHERE pod_name = $1""",
            name,
            pod_id,
        )
