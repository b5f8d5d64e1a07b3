"""Fixtures that start the real parts once per session: NATS JetStream, PostgreSQL, SeaweedFS S3.

Tests isolate themselves by unique names (job ids, consumers, buckets, schemas), so one set of
servers serves the whole suite. Nothing here is a mock: a test double is allowed only for a remote
service that cannot be reached from here (RunPod's API, an LLM server), under tests/fakes/.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.kit.settings import Settings, load_settings, nats_credentials_file
from simswarm.stack import EmbeddedStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    home = tmp_path_factory.mktemp("stack")
    s = EmbeddedStack(
        home,
        database_url=os.environ.get("SIMSWARM_TEST_DATABASE_URL") or None,
        s3_endpoint=os.environ.get("SIMSWARM_TEST_S3_ENDPOINT") or None,
    ).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def database_url(stack: EmbeddedStack) -> str:
    assert stack.database_url
    return stack.database_url


def make_settings(stack: EmbeddedStack, home: Path, **overrides: object) -> Settings:
    """Settings pointing at the session's servers, with a home (and bucket) of the test's own."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "SIMSWARM_HOME": str(home),
        "NATS_URL": stack.nats.url if stack.nats else "",
        "DATABASE_URL": stack.database_url or "",
        "S3_ENDPOINT": stack.s3_endpoint or "",
        "S3_BUCKET": f"t-{uuid.uuid4().hex[:12]}",
        # every service started by a test connects as its own NATS user (docs/security.md)
        "SIMSWARM_NATS_CREDENTIALS": str(nats_credentials_file(stack.home)),
    }
    if stack.s3 is not None:
        env.update(S3_ACCESS_KEY=stack.s3.access_key, S3_SECRET_KEY=stack.s3.secret_key)
    settings = load_settings(env)
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


@pytest.fixture
def settings(stack: EmbeddedStack, tmp_path: Path) -> Settings:
    return make_settings(stack, tmp_path / "home")


@pytest_asyncio.fixture
async def bus(settings: Settings) -> AsyncIterator[object]:
    from services.kit.bus import Bus

    b = await Bus.connect(
        settings.nats_url, name=f"test-{uuid.uuid4().hex[:8]}", login=settings.nats_login("admin")
    )
    await b.ensure_streams()
    try:
        yield b
    finally:
        await b.close()


@pytest_asyncio.fixture
async def store(settings: Settings) -> AsyncIterator[object]:
    from services.kit.objectstore import ObjectStore

    async with ObjectStore(settings) as s:  # one S3 client for the test, closed after it
        await s.ensure_bucket()
        yield s


@pytest_asyncio.fixture
async def pg_pool(database_url: str) -> AsyncIterator[object]:
    from services.kit.db import create_pool

    pool = await create_pool(database_url, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


def new_job_id() -> str:
    """A job id that is unique across the test session (no dots: it is part of NATS subjects)."""
    return uuid.uuid4().hex
