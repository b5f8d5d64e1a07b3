"""Fixtures shared by the integration tests of more than one service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from tests.integration.reporter.reporter_helpers import engine_files
from tests.integration.schemas import drop_schema

if TYPE_CHECKING:
    from services.orchestrator.main import OrchestratorOptions


@pytest.fixture(scope="session")
def run_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A real small engine run's artifact files (file name -> bytes), run once for the reporter and graph tests."""
    return engine_files(tmp_path_factory.mktemp("engine-run"))


@pytest_asyncio.fixture
async def orchestrator_options(pg_pool: Any) -> AsyncIterator[Callable[..., OrchestratorOptions]]:
    """Options for an orchestrator service a test runs: its schemas, consumer and command queue named
    with a fresh suffix per call (so it shares NATS and Postgres with no other), starting at the
    stream's end, polling every 0.2 s; `overrides` replace any of them. The schemas are dropped after
    the test."""
    from services.orchestrator.main import OrchestratorOptions  # only the tests that run it need it

    made: list[OrchestratorOptions] = []

    def make(**overrides: Any) -> OrchestratorOptions:
        suffix = uuid.uuid4().hex[:10]
        names = {
            "es_schema": f"orch_{suffix}",
            "projections_schema": f"proj_{suffix}",
            "consumer": f"orch-{suffix}",
            "command_queue": f"orch-{suffix}",
        }
        polling = {"deliver_new": True, "relay_poll_s": 0.2, "projection_poll_s": 0.2}
        made.append(OrchestratorOptions(**{**names, **polling, **overrides}))
        return made[-1]

    yield make
    for opts in made:
        for schema in (opts.es_schema, opts.projections_schema):
            await drop_schema(pg_pool, schema)
