"""Replicas that start at once on a new database: each creates the event store's tables, none dies.

Seen in CI: two orchestrator replicas started together, and the second stopped on `duplicate key value
violates unique constraint "pg_class_relname_nsp_index"` (PostgreSQL's CREATE ... IF NOT EXISTS is not
safe against itself in two sessions).
"""

from __future__ import annotations

import asyncio
import uuid

from services.orchestrator.main import open_application
from tests.integration.schemas import drop_schema


async def test_replicas_creating_one_event_store_at_once_all_come_up(
    database_url: str, pg_pool: object
) -> None:
    schema = f"orch_{uuid.uuid4().hex[:10]}"
    try:
        for _ in range(3):  # a race: a few fresh schemas make it near certain without the fix
            apps = await asyncio.gather(
                *(open_application(database_url, pg_pool, schema, pool_size=1) for _ in range(4)),
                return_exceptions=True,
            )
            errors = [a for a in apps if isinstance(a, BaseException)]
            for app in apps:
                if not isinstance(app, BaseException):
                    await asyncio.to_thread(app.close)
            assert not errors, f"a replica failed to open the event store: {errors[0]!r}"
            await drop_schema(pg_pool, schema)  # type: ignore[arg-type]
    finally:
        await drop_schema(pg_pool, schema)  # type: ignore[arg-type]
