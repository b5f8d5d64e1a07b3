"""`simswarm_jobs{status}`: the read model's jobs counted by status, refreshed every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from contracts.spec import JobStatus
from services.kit import metrics

log = logging.getLogger(__name__)


async def refresh_job_counts(pool: asyncpg.Pool, schema: str, stop: asyncio.Event, interval: float = 5.0) -> None:
    """Keep the gauge equal to `<schema>.jobs` grouped by status (every status present, 0 when none)."""
    while not stop.is_set():
        try:
            rows = await pool.fetch(f'SELECT status, count(*) AS n FROM "{schema}".jobs GROUP BY status')
            counts = {str(r["status"]): int(r["n"]) for r in rows}
            for status in {str(s) for s in JobStatus} | counts.keys():
                metrics.JOBS.labels(status).set(counts.get(status, 0))
        except Exception as exc:  # the database away: keep the last values
            log.debug("job counts: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
