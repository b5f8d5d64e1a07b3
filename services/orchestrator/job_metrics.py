"""`simswarm_jobs{status}`: the read model's jobs counted by status, refreshed every few seconds."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from contracts.spec import JobStatus
from services.kit import metrics
from services.kit.periodic import every

log = logging.getLogger(__name__)


async def refresh_job_counts(
    pool: asyncpg.Pool, schema: str, stop: asyncio.Event, interval: float = 5.0
) -> None:
    """Keep the gauge equal to `<schema>.jobs` grouped by status (every status present, 0 when none)."""

    async def refresh() -> None:
        rows = await pool.fetch(f'SELECT status, count(*) AS n FROM "{schema}".jobs GROUP BY status')
        counts = {str(r["status"]): int(r["n"]) for r in rows}
        for status in {str(s) for s in JobStatus} | counts.keys():
            metrics.JOBS.labels(status).set(counts.get(status, 0))

    # the database away: the gauge keeps its last values
    await every(interval, stop, refresh, what="job counts", log=log, level=logging.DEBUG)
