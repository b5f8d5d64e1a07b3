"""Orchestrator fixtures: an application on its own event-store and projection schemas per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from services.orchestrator.application import OrchestratorApplication
from services.orchestrator.main import open_application
from services.orchestrator.projection import JobsProjection
from tests.integration.schemas import drop_schema


@dataclass
class Orch:
    app: OrchestratorApplication
    projection: JobsProjection
    es_schema: str
    projections_schema: str


@pytest_asyncio.fixture
async def orch(database_url: str, pg_pool: object) -> AsyncIterator[Orch]:
    suffix = uuid.uuid4().hex[:10]
    es_schema, proj_schema = f"orch_{suffix}", f"proj_{suffix}"
    app = await open_application(database_url, pg_pool, es_schema, pool_size=2)
    projection = JobsProjection(app, pool=pg_pool, schema=proj_schema)  # type: ignore[arg-type]
    await projection.migrate()
    try:
        yield Orch(app, projection, es_schema, proj_schema)
    finally:
        await asyncio.to_thread(app.close)
        for schema in (es_schema, proj_schema):
            await drop_schema(pg_pool, schema)
