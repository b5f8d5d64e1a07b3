"""Reads of the orchestrator's projection `projections.jobs`, and the gateway's own job records.

The projection is written only by the orchestrator. The gateway keeps, in its own schema, what it
asked for (`job_requests`: ownership until the projection catches up, the duplicate guard, the
quota) and what owners deleted (`deleted_jobs`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from contracts.spec import TERMINAL_STATUSES
from services.gateway.schema import check_ident

if TYPE_CHECKING:
    from services.gateway.paging import Page

_TERMINAL = [s.value for s in TERMINAL_STATUSES]
PENDING_GRACE_S = 600  # a request with no projection row after this long no longer counts as live


# The refusals of `reserve`, with what the API's answer names. (eq=False keeps exceptions hashable.)
@dataclass(eq=False)
class DuplicateJob(Exception):
    """An identical request of the owner's, `job_id`, was made `age_s` ago and is still live."""

    job_id: str
    age_s: float


@dataclass(eq=False)
class AlreadyRequested(Exception):
    """This job id (an Idempotency-Key's) was reserved already, perhaps by a concurrent retry."""

    job_id: str


@dataclass(eq=False)
class QuotaExceeded(Exception):
    """The owner already has `live` live jobs: as many as the `quota` allows, or more."""

    live: int
    quota: int


class JobsStore:
    """Owner-scoped queries over the projection plus the gateway's job tables."""

    def __init__(
        self, pool: asyncpg.Pool, *, gateway_schema: str = "gateway", projection_schema: str = "projections"
    ) -> None:
        self.pool = pool
        self.g = check_ident(gateway_schema)
        self.p = check_ident(projection_schema)
        self._has_projection = False

    async def has_projection(self, conn: asyncpg.Connection | asyncpg.Pool | None = None) -> bool:
        """Whether the orchestrator has created its table yet (the gateway may start first)."""
        if not self._has_projection:
            found = await (conn or self.pool).fetchval("SELECT to_regclass($1) IS NOT NULL", f"{self.p}.jobs")
            self._has_projection = bool(found)
        return self._has_projection

    def _visible(self, alias: str = "j") -> str:
        return (
            f"NOT coalesce({alias}.deleted, false) AND NOT EXISTS "
            f"(SELECT 1 FROM {self.g}.deleted_jobs d WHERE d.job_id = {alias}.job_id)"
        )

    async def _projected(self, job_id: str, owner_id: str) -> dict[str, Any] | None:
        if not await self.has_projection():
            return None
        row = await self.pool.fetchrow(
            f"SELECT * FROM {self.p}.jobs j WHERE j.job_id = $1 AND j.owner_id = $2 AND {self._visible()}",
            job_id,
            owner_id,
        )
        return dict(row) if row is not None else None

    async def get_visible(self, job_id: str) -> dict[str, Any] | None:
        """A projected job not deleted by its owner, whoever owns it (shared and demo jobs)."""
        if not await self.has_projection():
            return None
        row = await self.pool.fetchrow(
            f"SELECT * FROM {self.p}.jobs j WHERE j.job_id = $1 AND {self._visible()}", job_id
        )
        return dict(row) if row is not None else None

    async def get_owned(self, job_id: str, owner_id: str) -> dict[str, Any] | None:
        """The owner's job (projection row, or a pending stub before the projection has it); else None."""
        if (row := await self._projected(job_id, owner_id)) is not None:
            return row
        pending = await self.pool.fetchrow(
            f"""SELECT r.job_id, r.owner_id, r.created_at FROM {self.g}.job_requests r
                 WHERE r.job_id = $1 AND r.owner_id = $2
                   AND NOT EXISTS (SELECT 1 FROM {self.g}.deleted_jobs d WHERE d.job_id = r.job_id)""",
            job_id,
            owner_id,
        )
        if pending is None:
            return None
        if await self.has_projection():
            exists = await self.pool.fetchval(f"SELECT 1 FROM {self.p}.jobs WHERE job_id = $1", job_id)
            if exists:  # projected since the first look, deleted there, or owned by someone else
                return await self._projected(job_id, owner_id)
        # `pending`: asked for, but the orchestrator has not answered (or not projected it) yet.
        return {
            **dict(pending),
            "status": "created",
            "stage": "created",
            "updated_at": pending["created_at"],
            "pending": True,
        }

    async def live_job_ids(self, owner_id: str, terminal: list[str]) -> list[str]:
        """Every job of the owner not yet in one of the `terminal` statuses (deleted or not)."""
        if not await self.has_projection():
            return []
        rows = await self.pool.fetch(
            f"SELECT job_id FROM {self.p}.jobs WHERE owner_id = $1 AND NOT (status = ANY($2::text[]))",
            owner_id,
            terminal,
        )
        return [r["job_id"] for r in rows]

    async def list_owned(
        self, owner_id: str, *, status: str | None, page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the owner's jobs, newest first, and the total matching."""
        if not await self.has_projection():
            return [], 0
        where = f"j.owner_id = $1 AND {self._visible()}"
        args: list[Any] = [owner_id]
        if status:
            args.append(status)
            where += f" AND j.status = ${len(args)}"
        total = await self.pool.fetchval(f"SELECT count(*) FROM {self.p}.jobs j WHERE {where}", *args)
        args += [page.size, page.offset]
        rows = await self.pool.fetch(
            f"""SELECT * FROM {self.p}.jobs j WHERE {where}
                ORDER BY j.created_at DESC, j.job_id DESC LIMIT ${len(args) - 1} OFFSET ${len(args)}""",
            *args,
        )
        return [dict(r) for r in rows], int(total or 0)

    async def reserve(
        self, owner_id: str, job_id: str, fingerprint: str, *, window_s: float, quota: int
    ) -> None:
        """Record a job request, unless it duplicates a live one (DuplicateJob) or breaks the quota.

        A per-owner advisory lock makes check-and-insert atomic across gateway replicas; a job id
        reserved before (the same Idempotency-Key, maybe a concurrent retry) is AlreadyRequested.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", zlib.crc32(f"gw-jobs:{owner_id}".encode()))
            if await conn.fetchval(f"SELECT 1 FROM {self.g}.job_requests WHERE job_id = $1", job_id):
                raise AlreadyRequested(job_id)
            has_proj = await self.has_projection(conn)
            live_join = (
                f"LEFT JOIN {self.p}.jobs j ON j.job_id = r.job_id"
                if has_proj
                else "LEFT JOIN (SELECT NULL::text AS job_id, NULL::text AS status) j ON false"
            )
            dup = await conn.fetchrow(
                f"""SELECT r.job_id, extract(epoch FROM now() - r.created_at) AS age
                      FROM {self.g}.job_requests r {live_join}
                     WHERE r.owner_id = $1 AND r.fingerprint = $2
                       AND r.created_at > now() - make_interval(secs => $3)
                       AND (j.status IS NULL OR NOT (j.status = ANY($4::text[])))
                     ORDER BY r.created_at DESC LIMIT 1""",
                owner_id,
                fingerprint,
                float(window_s),
                _TERMINAL,
            )
            if dup is not None:
                raise DuplicateJob(dup["job_id"], float(dup["age"]))
            live = await self._live_count(conn, owner_id, has_proj)
            if live >= quota:
                raise QuotaExceeded(live, quota)
            await conn.execute(
                f"INSERT INTO {self.g}.job_requests (job_id, owner_id, fingerprint) VALUES ($1, $2, $3)",
                job_id,
                owner_id,
                fingerprint,
            )

    async def _live_count(self, conn: asyncpg.Connection, owner_id: str, has_proj: bool) -> int:
        pending_sql = f"""SELECT count(*) FROM {self.g}.job_requests r
                           WHERE r.owner_id = $1 AND r.created_at > now() - make_interval(secs => $2)
                             AND NOT EXISTS (SELECT 1 FROM {self.g}.deleted_jobs d WHERE d.job_id = r.job_id)"""
        if has_proj:
            pending_sql += f" AND NOT EXISTS (SELECT 1 FROM {self.p}.jobs j WHERE j.job_id = r.job_id)"
        pending = await conn.fetchval(pending_sql, owner_id, float(PENDING_GRACE_S))
        if not has_proj:
            return int(pending or 0)
        live = await conn.fetchval(
            f"""SELECT count(*) FROM {self.p}.jobs j
                 WHERE j.owner_id = $1 AND NOT (j.status = ANY($2::text[])) AND {self._visible()}""",
            owner_id,
            _TERMINAL,
        )
        return int(live or 0) + int(pending or 0)

    async def request_fingerprint(self, job_id: str, owner_id: str) -> str | None:
        """The fingerprint recorded for an owner's earlier request with this job id, if any."""
        value = await self.pool.fetchval(
            f"SELECT fingerprint FROM {self.g}.job_requests WHERE job_id = $1 AND owner_id = $2",
            job_id,
            owner_id,
        )
        return str(value) if value is not None else None

    async def is_deleted(self, job_id: str, owner_id: str) -> bool:
        """Whether the owner deleted this job (here, or as the projection records it)."""
        deleted = [f"EXISTS (SELECT 1 FROM {self.g}.deleted_jobs WHERE job_id = $1 AND owner_id = $2)"]
        if await self.has_projection():
            deleted.append(
                f"EXISTS (SELECT 1 FROM {self.p}.jobs WHERE job_id = $1 AND owner_id = $2 AND deleted)"
            )
        return bool(await self.pool.fetchval(f"SELECT {' OR '.join(deleted)}", job_id, owner_id))

    async def release(self, job_id: str) -> None:
        """Forget a request the orchestrator did not accept."""
        await self.pool.execute(f"DELETE FROM {self.g}.job_requests WHERE job_id = $1", job_id)

    async def mark_deleted(self, job_id: str, owner_id: str) -> None:
        await self.pool.execute(
            f"INSERT INTO {self.g}.deleted_jobs (job_id, owner_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            job_id,
            owner_id,
        )
