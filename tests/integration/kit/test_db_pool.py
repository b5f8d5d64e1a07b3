"""create_pool waits for a server still starting, then names the failure."""

from __future__ import annotations

import pytest

from services.kit.db import DatabaseUnavailable, create_pool
from simswarm.stack import free_port

pytestmark = pytest.mark.integration


async def test_a_database_that_never_answers_is_named_after_the_tries() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"  # nothing listens there
    with pytest.raises(
        DatabaseUnavailable, match="cannot connect to Postgres: .*(refused|Connect call failed)"
    ):
        await create_pool(url)


async def test_a_running_database_gives_a_pool(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=1)
    try:
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
