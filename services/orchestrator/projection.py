"""The `jobs` read model in Postgres (schema `projections`), following the notification log.

Each batch folds stored events into Job aggregates (the aggregate's own mutators, so the row is the
aggregate's state by construction), upserts the rows and records the log position in
`projections.tracking` in the same transaction. `rebuild()` replaces every row from the whole log in
one transaction (readers see the old rows until it commits) and must reproduce the live table exactly.
A durable-timer index (`job_timers`) is maintained alongside, for the timer loop.

No stored event can stop it: text PostgreSQL refuses is sanitized, and a job whose events cannot be
applied or whose row cannot be written is quarantined (services/orchestrator/quarantine.py) while
every other job's row is written and the position moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import AnyEvent, RunProgressed
from services.kit.bus import Delivery
from services.orchestrator.application import OrchestratorApplication
from services.orchestrator.domain.job import Job
from services.orchestrator.follower import LogFollower
from services.orchestrator.mapping import job_event_id
from services.orchestrator.quarantine import POISON_ERRORS, Quarantined, placeholder_row, short, storable
from services.orchestrator.rows import COLUMNS, JSON_COLUMNS, job_row

log = logging.getLogger(__name__)

PAGE = 1000
CACHE_SIZE = 2000


# Progress (round, prices) is telemetry: RunProgressed writes it straight from the bus
# (`JobsProjection.apply_progress`), so a row written from the aggregate, which only knows the final
# round and prices once the run completed, keeps the further progress the row already shows.
# `{old}` is the row as shown, `{new}` what the aggregate says.
_PROGRESS_MERGE = {
    "round": "GREATEST({old}.round, {new}.round)",
    "prices": (
        "CASE WHEN {new}.round >= {old}.round AND {new}.prices <> '{{}}'::jsonb "
        "THEN {new}.prices ELSE {old}.prices END"
    ),
}


def _upsert_sql(schema: str) -> str:
    table = f'"{schema}".jobs'
    cols = ", ".join(COLUMNS)
    params = ", ".join(
        f"${i}::text::jsonb" if c in JSON_COLUMNS else f"${i}" for i, c in enumerate(COLUMNS, 1)
    )
    updates = ", ".join(
        f"{c} = {_PROGRESS_MERGE[c].format(old=table, new='EXCLUDED') if c in _PROGRESS_MERGE else f'EXCLUDED.{c}'}"
        for c in COLUMNS
        if c != "job_id"
    )
    return (
        f"INSERT INTO {table} ({cols}) VALUES ({params}) ON CONFLICT (job_id) DO UPDATE SET {updates} "
        f"WHERE {table}.version <= EXCLUDED.version"
    )


def _progress_sql(schema: str) -> str:
    """Progress from one RunProgressed: only of the job's current run (run ids are
    `<job>-a<attempt>`, rules.run_id_for), only while it runs, and only forward (monotonic by round,
    so a redelivered or late message changes nothing)."""
    return (
        f'UPDATE "{schema}".jobs SET round = $3, '
        f"prices = CASE WHEN $4::text::jsonb <> '{{}}'::jsonb THEN $4::text::jsonb ELSE prices END "
        f"WHERE job_id = $1 AND job_id || '-a' || attempt::text = $2 "
        f"AND status IN ('provisioning', 'running') AND round < $3"
    )


def _args(row: dict[str, Any]) -> list[Any]:
    return [json.dumps(row[c], sort_keys=True) if c in JSON_COLUMNS else row[c] for c in COLUMNS]


OnQuarantine = Callable[[list[Quarantined]], Awaitable[None]]


@dataclass
class _Folded:
    """One batch folded: the jobs to write, and those whose stored events could not be applied."""

    jobs: dict[str, Job] = field(default_factory=dict)
    broken: dict[str, tuple[Quarantined, dict[str, Any] | None]] = field(default_factory=dict)


@dataclass
class JobsProjection(LogFollower):
    """Maintains `<schema>.jobs` from the orchestrator's notification log; can be waited on and rebuilt."""

    app: OrchestratorApplication
    _: KW_ONLY
    schema: str = "projections"
    name: str = "jobs"
    on_quarantine: OnQuarantine | None = None
    _cache: OrderedDict[UUID, Job] = field(default_factory=OrderedDict, init=False, repr=False)
    _advanced: asyncio.Condition = field(default_factory=asyncio.Condition, init=False, repr=False)
    _position: int = field(default=0, init=False)

    what = "jobs projection"
    position_table = "tracking"

    @property
    def _lock_key(self) -> str:
        return f"projection:{self.schema}.{self.name}"

    def ddl(self) -> list[str]:
        """The projection's tables (idempotent). Its columns are what the gateway reads
        (services/gateway/jobs_store.py): renaming one is a change to both."""
        return [
            f"""CREATE TABLE IF NOT EXISTS "{self.schema}".jobs (
                job_id text PRIMARY KEY, owner_id text NOT NULL, status text NOT NULL, stage text NOT NULL,
                tier text, goal text, policy text, agents int, rounds int, round int, attempt int,
                created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, finished_at timestamptz NULL,
                markets jsonb, prices jsonb, final_prices jsonb, verdict text, error text, pod jsonb,
                artifacts jsonb, report_key text, graph_key text, timings jsonb, retry_of text,
                deleted bool NOT NULL DEFAULT false, last_event_id text, version int NOT NULL)""",
            f'CREATE INDEX IF NOT EXISTS jobs_owner_created_idx ON "{self.schema}".jobs (owner_id, created_at DESC)',
            f'CREATE INDEX IF NOT EXISTS jobs_status_idx ON "{self.schema}".jobs (status)',
            f'CREATE TABLE IF NOT EXISTS "{self.schema}".tracking (name text PRIMARY KEY, position bigint NOT NULL)',
            f"""CREATE TABLE IF NOT EXISTS "{self.schema}".job_timers (
                job_id text PRIMARY KEY, due_at timestamptz NOT NULL)""",
            f'CREATE INDEX IF NOT EXISTS job_timers_due_idx ON "{self.schema}".job_timers (due_at)',
            f"""CREATE TABLE IF NOT EXISTS "{self.schema}".quarantine (
                job_id text PRIMARY KEY, version int NOT NULL, reason text NOT NULL,
                quarantined_at timestamptz NOT NULL DEFAULT now())""",
        ]

    async def migrate(self) -> None:
        """Create the tables; a `jobs` table of an older shape (lacking a column the rows need) is
        rebuilt from the event log: a read model is rebuilt after an upgrade, never migrated."""
        await super().migrate()
        missing = await self._missing_columns()
        if missing:
            log.warning(
                "%s.jobs lacks %s (made by an older version): rebuilding it from the event log",
                self.schema,
                ", ".join(sorted(missing)),
            )
            await self.rebuild(only_if_outdated=True)

    async def _missing_columns(self, conn: asyncpg.Connection | asyncpg.Pool | None = None) -> set[str]:
        found = await (conn or self.pool).fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'jobs'",
            self.schema,
        )
        return {*COLUMNS, "deleted"} - {r["column_name"] for r in found}

    async def step(self) -> int:
        return await self.catch_up()

    def forget(self) -> None:
        self._cache.clear()

    # -- following the log ----------------------------------------------------------------------

    def _fold(self, batch: list[tuple[int, Any]]) -> _Folded:
        """Apply stored events to cached aggregates (loading one at the right version on a miss).

        An event that cannot be applied sets its job aside (with a placeholder row when the job's
        identity is known) instead of stopping the fold; the job's later events fail the same way.
        """
        out = _Folded()
        for _nid, domain_event in batch:
            aid, version = domain_event.originator_id, domain_event.originator_version
            try:
                job = self._apply(aid, version, domain_event)
            except POISON_ERRORS as exc:
                self._cache.pop(aid, None)
                job_id = self._job_id_of(domain_event)
                out.jobs.pop(job_id, None)
                reason = (
                    f"stored event {type(domain_event).__name__} (version {version}) could not be "
                    f"applied: {short(exc)}"
                )
                log.error("jobs projection: job %s quarantined: %s", job_id, reason)
                out.broken[job_id] = (
                    Quarantined(job_id, version, reason),
                    self._broken_row(aid, job_id, version, reason),
                )
                continue
            self._cache[aid] = job
            self._cache.move_to_end(aid)
            out.jobs[job.job_id] = job
            out.broken.pop(job.job_id, None)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return out

    def _apply(self, aid: UUID, version: int, domain_event: Any) -> Job:
        job = self._cache.get(aid)
        if version == 1:
            job = domain_event.mutate(None)
        elif job is not None and job.version == version - 1:
            domain_event.mutate(job)
        elif job is None or job.version < version:
            job = self.app.repository.get(aid, version=version)
        if not isinstance(job, Job):
            raise TypeError(f"aggregate {aid} is not a Job")
        return job

    def _job_id_of(self, domain_event: Any) -> str:
        try:
            return self.app.job_id_of(domain_event)
        except Exception:  # not even its JobCreated can be read: name it by the aggregate id
            return str(domain_event.originator_id)

    def _broken_row(self, aid: UUID, job_id: str, version: int, reason: str) -> dict[str, Any] | None:
        """A placeholder for a job that cannot be folded: from its last good state, or its JobCreated."""
        base: dict[str, Any] | None = None
        if version > 1:
            with contextlib.suppress(Exception):
                before: Any = self.app.repository.get(aid, version=version - 1)
                base = job_row(before) if isinstance(before, Job) else None
        if base is None:  # JobCreated itself cannot be applied: take what its stored fields say
            with contextlib.suppress(Exception):
                created = next(iter(self.app.events.get(aid, lte=1)))
                spec = getattr(created, "spec", None)
                spec = spec if isinstance(spec, dict) else {}
                at = getattr(created, "at", None)
                base = {
                    "owner_id": getattr(created, "owner_id", None),
                    "created_at": at,
                    "updated_at": at,
                    "goal": spec.get("goal"),
                    "tier": spec.get("tier"),
                    "retry_of": getattr(created, "retry_of", None),
                    "finished_at": None,
                }
        if base is None or not isinstance(base.get("created_at"), datetime):
            return None
        return placeholder_row(
            job_id=job_id,
            owner_id=base["owner_id"],
            status="failed",
            created_at=base["created_at"],
            updated_at=base["updated_at"] or base["created_at"],
            finished_at=base.get("finished_at"),
            version=version,
            last_event_id=job_event_id(job_id, version),
            reason=reason,
            goal=base.get("goal"),
            tier=base.get("tier"),
            retry_of=base.get("retry_of"),
        )

    async def _write(self, conn: asyncpg.Connection, folded: _Folded) -> list[Quarantined]:
        """Upsert the batch's rows and timers; returns the jobs quarantined on the way."""
        rows: dict[str, dict[str, Any]] = {}
        quarantined: list[Quarantined] = []
        placeholders: dict[str, dict[str, Any] | None] = {}
        for job_id, job in folded.jobs.items():
            try:
                rows[job_id] = storable(job_row(job))
            except POISON_ERRORS as exc:
                reason = f"this job's record could not be stored: {short(exc)}"
                quarantined.append(Quarantined(job_id, job.version, reason))
                placeholders[job_id] = self._quarantine_row(job, reason)
        sql = _upsert_sql(self.schema)
        try:
            async with conn.transaction():  # a savepoint: a refused batch is retried row by row
                if rows:
                    await conn.executemany(sql, [_args(r) for r in rows.values()])
        except POISON_ERRORS:
            for job_id, row in list(rows.items()):
                try:
                    async with conn.transaction():
                        await conn.execute(sql, *_args(row))
                except POISON_ERRORS as exc:
                    job = folded.jobs[job_id]
                    reason = f"this job's record could not be stored: {short(exc)}"
                    log.error("jobs projection: job %s quarantined: %s", job_id, reason)
                    quarantined.append(Quarantined(job_id, job.version, reason))
                    placeholders[job_id] = self._quarantine_row(job, reason)
                    del rows[job_id]
        for q, maybe_row in folded.broken.values():
            quarantined.append(q)
            placeholders[q.job_id] = maybe_row
        for job_id, placeholder in placeholders.items():
            if placeholder is None:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql, *_args(placeholder))
            except POISON_ERRORS as exc:
                log.error(
                    "jobs projection: not even a placeholder row could be stored for job %s: %s", job_id, exc
                )
        if rows:  # stored normally again: no longer quarantined
            await conn.execute(
                f'DELETE FROM "{self.schema}".quarantine WHERE job_id = ANY($1::text[])', list(rows)
            )
        if quarantined:
            await conn.executemany(
                f'INSERT INTO "{self.schema}".quarantine (job_id, version, reason) VALUES ($1, $2, $3) '
                f"ON CONFLICT (job_id) DO UPDATE SET version = EXCLUDED.version, reason = EXCLUDED.reason",
                [(storable(q.job_id), q.version, storable(q.reason)) for q in quarantined],
            )
        await self._write_timers(conn, folded)
        return quarantined

    @staticmethod
    def _quarantine_row(job: Job, reason: str) -> dict[str, Any]:
        """The placeholder of a job the saga still knows (its status is the aggregate's)."""
        return placeholder_row(
            job_id=job.job_id,
            owner_id=job.owner_id,
            status=str(job.status),
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
            version=int(job.version),
            last_event_id=job_event_id(job.job_id, job.version),
            reason=reason,
            goal=job.spec.get("goal"),
            tier=job.run.get("tier"),
            retry_of=job.retry_of,
        )

    async def _write_timers(self, conn: asyncpg.Connection, folded: _Folded) -> None:
        due = [(jid, j.next_due_at()) for jid, j in folded.jobs.items()]
        with_due = [(jid, at) for jid, at in due if at is not None]
        without = [jid for jid, at in due if at is None] + list(folded.broken)
        if with_due:
            await conn.executemany(
                f'INSERT INTO "{self.schema}".job_timers (job_id, due_at) VALUES ($1, $2) '
                f"ON CONFLICT (job_id) DO UPDATE SET due_at = EXCLUDED.due_at",
                with_due,
            )
        if without:
            await conn.execute(
                f'DELETE FROM "{self.schema}".job_timers WHERE job_id = ANY($1::text[])', without
            )

    async def _set_position(self, conn: asyncpg.Connection, position: int) -> None:
        await conn.execute(
            f'INSERT INTO "{self.schema}".tracking (name, position) VALUES ($1, $2) '
            f"ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
            self.name,
            position,
        )

    async def catch_up(self) -> int:
        """Project everything recorded so far; returns the position reached."""
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key)
                position = int(
                    await conn.fetchval(
                        f'SELECT position FROM "{self.schema}".tracking WHERE name = $1', self.name
                    )
                    or 0
                )
                batch = await asyncio.to_thread(self.app.notifications_after, position, PAGE)
                quarantined: list[Quarantined] = []
                if batch:
                    quarantined = await self._write(conn, await asyncio.to_thread(self._fold, batch))
                    position = batch[-1][0]
                    await self._set_position(conn, position)
            await self._advance(position)
            if quarantined and self.on_quarantine is not None:
                try:
                    await self.on_quarantine(quarantined)
                except Exception:  # the rows are set aside already; failing the jobs is best effort
                    log.exception("jobs projection: acting on quarantined jobs failed")
            if len(batch) < PAGE:
                return position

    async def _advance(self, position: int) -> None:
        self.last_ok = time.monotonic()  # each batch is progress, not only a whole catch-up (health)
        async with self._advanced:
            self._position = max(self._position, position)
            self._advanced.notify_all()

    async def wait_for(self, notification_id: int, timeout: float = 5.0) -> bool:
        """Read-your-writes: True once the projection includes `notification_id` (False on timeout)."""
        if self._position >= notification_id:
            return True
        self.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._advanced:
            while self._position < notification_id:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._advanced.wait(), min(remaining, 0.25))
                if self._position < notification_id:
                    self._position = max(self._position, await self.position())  # another replica's runner
        return self._position >= notification_id

    # -- progress (telemetry) ---------------------------------------------------------------------

    async def apply_progress(self, event: RunProgressed) -> bool:
        """Show one RunProgressed on its job's row (round, prices); True if the row moved forward.

        Not an event of the aggregate: a stale run, a finished job, an older round or a redelivery
        change nothing. A value PostgreSQL refuses is dropped with a log line (the next round's
        message carries the progress again); an outage raises, so the bus redelivers.
        """
        try:
            prices = json.dumps(storable(dict(event.prices)), sort_keys=True)
            status = await self.pool.execute(
                _progress_sql(self.schema), event.job_id, event.run_id, event.round, prices
            )
        except POISON_ERRORS as exc:
            log.error(
                "jobs projection: progress of job %s (round %s) not shown: %s",
                event.job_id,
                event.round,
                short(exc),
            )
            return False
        return bool(status.endswith(" 1"))

    async def on_progress(self, event: AnyEvent, delivery: Delivery) -> None:
        """The bus handler of the progress consumer (RunProgressed only)."""
        if isinstance(event, RunProgressed):
            await self.apply_progress(event)

    # -- reads -----------------------------------------------------------------------------------

    async def read_row(self, job_id: str) -> dict[str, Any] | None:
        """One projected row, JSON columns decoded (the `deleted` flag included)."""
        casts = ", ".join(f"{c}::text AS {c}" if c in JSON_COLUMNS else c for c in (*COLUMNS, "deleted"))
        rec = await self.pool.fetchrow(f'SELECT {casts} FROM "{self.schema}".jobs WHERE job_id = $1', job_id)
        if rec is None:
            return None
        return {
            k: (json.loads(v) if k in JSON_COLUMNS and v is not None else v) for k, v in dict(rec).items()
        }

    async def all_rows(self) -> list[dict[str, Any]]:
        """Every row, ordered by job id (for rebuild comparisons and operators)."""
        casts = ", ".join(f"{c}::text AS {c}" if c in JSON_COLUMNS else c for c in (*COLUMNS, "deleted"))
        recs = await self.pool.fetch(f'SELECT {casts} FROM "{self.schema}".jobs ORDER BY job_id')
        return [
            {k: (json.loads(v) if k in JSON_COLUMNS and v is not None else v) for k, v in dict(r).items()}
            for r in recs
        ]

    async def due_jobs(self, now: datetime, limit: int = 500) -> list[str]:
        """Jobs with a durable timer due at `now`."""
        recs = await self.pool.fetch(
            f'SELECT job_id FROM "{self.schema}".job_timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2',
            now,
            limit,
        )
        return [r["job_id"] for r in recs]

    # -- rebuild ---------------------------------------------------------------------------------

    async def rebuild(self, *, only_if_outdated: bool = False) -> int:
        """Replace every row from the whole log, in one transaction; returns the number of jobs.

        The tables are emptied, so readers see the old rows until the commit; a `jobs` table of an
        older shape (a column missing) is dropped and made again in this version's shape instead.

        `deleted` is not an event (the gateway sets it), so it is carried over. So is progress: round
        and prices are telemetry from the bus, not in the log (docs/orchestrator.md#progress); they
        are merged into each rebuilt row exactly as a live upsert merges them, so the rebuilt table
        equals the live one. A run that completed has its final round and prices in the log anyway.
        `only_if_outdated`: nothing to do once the table has every column (replicas that started
        together after an upgrade rebuild it once).
        """
        self._cache.clear()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key)
            missing = await self._missing_columns(conn)
            if only_if_outdated and not missing:
                return int(await conn.fetchval(f'SELECT count(*) FROM "{self.schema}".jobs'))
            deleted = (
                []
                if "deleted" in missing
                else [
                    r["job_id"]
                    for r in await conn.fetch(f'SELECT job_id FROM "{self.schema}".jobs WHERE deleted')
                ]
            )
            progress = (
                []
                if {"round", "prices"} & missing
                else [
                    (r["job_id"], r["round"], r["prices"])
                    for r in await conn.fetch(
                        f'SELECT job_id, round, prices::text AS prices FROM "{self.schema}".jobs WHERE round > 0'
                    )
                ]
            )
            tables = [f'"{self.schema}".{t}' for t in ("jobs", "job_timers", "quarantine")]
            if missing:  # an older shape: dropped and made again (readers wait for the commit)
                await conn.execute(f"DROP TABLE {', '.join(tables)}")
                for statement in self.ddl():
                    await conn.execute(statement)
            else:  # emptied: readers keep seeing the old rows until the commit
                for table in tables:
                    await conn.execute(f"DELETE FROM {table}")
            position = 0
            while True:
                batch = await asyncio.to_thread(self.app.notifications_after, position, PAGE)
                if not batch:
                    break
                await self._write(conn, await asyncio.to_thread(self._fold, batch))
                position = batch[-1][0]
            if deleted:
                await conn.execute(
                    f'UPDATE "{self.schema}".jobs SET deleted = true WHERE job_id = ANY($1::text[])', deleted
                )
            if progress:
                table = f'"{self.schema}".jobs'
                merged = ", ".join(
                    f"{c} = {m.format(old='shown', new=table)}" for c, m in _PROGRESS_MERGE.items()
                )
                await conn.executemany(
                    f"UPDATE {table} SET {merged} FROM (SELECT $2::int AS round, $3::text::jsonb AS prices) "
                    f"AS shown WHERE {table}.job_id = $1",
                    progress,
                )
            await self._set_position(conn, position)
            count = int(await conn.fetchval(f'SELECT count(*) FROM "{self.schema}".jobs'))
        await self._advance(position)
        return count
