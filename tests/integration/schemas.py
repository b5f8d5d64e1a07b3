"""Dropping a test's own Postgres schemas, for the integration fixtures of every service."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg


async def drop_schema(pool: Any, schema: str) -> None:
    """Drop a test's schema; work the app left running after its last response (mail sent after
    the answer, a cancel) can still hold row locks, and Postgres then picks the DROP as the
    deadlock victim: try again."""
    for attempt in range(10):
        try:
            await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == 9:
                raise
            await asyncio.sleep(0.2)
