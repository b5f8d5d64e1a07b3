"""Versioned migrations on the real PostgreSQL: once each, in order, atomically, across replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from services.gateway.schema import ensure_schema, migrations
from services.kit.db import Migration, MigrationError, apply_migrations, migrate, sql_migrations

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def schema(pg_pool) -> AsyncIterator[str]:
    name = f"m_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        await pg_pool.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _steps(schema: str) -> list[Migration]:
    return [
        Migration(1, "items", [f'CREATE TABLE "{schema}".items (id int PRIMARY KEY)']),
        Migration(2, "item names", [f'ALTER TABLE "{schema}".items ADD COLUMN name text']),
    ]


async def _recorded(pool, schema: str, component: str = "c") -> list[tuple[int, str]]:
    rows = await pool.fetch(
        f'SELECT version, name FROM "{schema}".schema_migrations WHERE component = $1 ORDER BY version',
        component,
    )
    return [(r["version"], r["name"]) for r in rows]


async def test_each_version_is_applied_once_and_in_order(pg_pool, schema) -> None:
    steps = _steps(schema)
    assert await apply_migrations(pg_pool, schema, "c", steps[:1]) == [1]
    assert await apply_migrations(pg_pool, schema, "c", steps) == [2]  # only the new one
    assert (
        await apply_migrations(pg_pool, schema, "c", steps) == []
    )  # (not idempotent DDL: would fail if run)
    assert await _recorded(pg_pool, schema) == [(1, "items"), (2, "item names")]
    await pg_pool.execute(f"INSERT INTO \"{schema}\".items (id, name) VALUES (1, 'one')")


async def test_a_failing_step_leaves_the_database_as_it_was(pg_pool, schema) -> None:
    await apply_migrations(pg_pool, schema, "c", _steps(schema)[:1])
    broken = [
        *_steps(schema),
        Migration(
            3,
            "broken",
            [f'ALTER TABLE "{schema}".items ADD COLUMN flag boolean', "SELECT no_such_function()"],
        ),
    ]
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_migrations(pg_pool, schema, "c", broken)
    assert await _recorded(pg_pool, schema) == [(1, "items")]  # neither 2 nor 3
    columns = {
        r["column_name"]
        for r in await pg_pool.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'items'",
            schema,
        )
    }
    assert columns == {"id"}


async def test_a_database_newer_than_the_code_and_gaps_are_refused(pg_pool, schema) -> None:
    await apply_migrations(pg_pool, schema, "c", _steps(schema))
    with pytest.raises(MigrationError, match=r"\[2\] that this code does not know"):
        await apply_migrations(pg_pool, schema, "c", _steps(schema)[:1])
    with pytest.raises(MigrationError, match="numbered 1, 2, 3"):
        await apply_migrations(pg_pool, schema, "other", [Migration(2, "skips one", [])])
    assert await apply_migrations(pg_pool, schema, "other", []) == []  # components are counted apart


async def test_replicas_starting_together_apply_each_version_once(pg_pool, schema) -> None:
    results = await asyncio.gather(
        *(apply_migrations(pg_pool, schema, "c", _steps(schema)) for _ in range(3))
    )
    assert sorted(results) == [[], [], [1, 2]]


async def test_migrations_kept_as_sql_files_run_in_order_in_their_schema(
    pg_pool, schema, tmp_path, monkeypatch
) -> None:
    package = f"mig_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "0002_item_names.sql").write_text("ALTER TABLE items ADD COLUMN name text;\n")
    (folder / "0001_items.sql").write_text(
        "CREATE TABLE items (id int PRIMARY KEY);\nINSERT INTO items VALUES (1);\n"
    )
    (folder / "README.md").write_text("not a migration")
    monkeypatch.syspath_prepend(str(tmp_path))

    steps = sql_migrations(package)
    assert [(m.version, m.name) for m in steps] == [(1, "items"), (2, "item names")]
    assert await apply_migrations(pg_pool, schema, "c", steps) == [1, 2]
    # The tables were made in `schema` (first on the search_path), not in public.
    assert await pg_pool.fetchval(f'SELECT count(*) FROM "{schema}".items WHERE name IS NULL') == 1
    assert await pg_pool.fetchval("SELECT to_regclass('public.items')") is None

    (folder / "3_more.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="3_more.sql is not named like 0001_what_it_does.sql"):
        sql_migrations(package)


async def test_the_gateway_schema_made_before_versioning_adopts_version_1(pg_pool, schema) -> None:
    # How it was created until versioning began: the same DDL, with no record of a version.
    await migrate(pg_pool, schema, [f'SET LOCAL search_path TO "{schema}"', *migrations()[0].statements])
    await pg_pool.execute(f"INSERT INTO {schema}.users (id, email) VALUES ('u1', 'a@example.org')")
    await ensure_schema(pg_pool, schema)
    assert await _recorded(pg_pool, schema, "gateway") == [(1, migrations()[0].name)]
    assert await pg_pool.fetchval(f"SELECT count(*) FROM {schema}.users") == 1  # kept
    await ensure_schema(pg_pool, schema)  # and again: nothing to do
