"""Postgres access: an asyncpg pool, versioned migrations, and the eventsourcing environment."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs, unquote, urlparse

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed


class DatabaseUnavailable(RuntimeError):
    pass


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 8) -> asyncpg.Pool:
    """An asyncpg pool; works with a TCP URL or pgserver's unix-socket form (`?host=<dir>`).

    A server still starting is waited for: 20 tries, 0.25 s apart, then DatabaseUnavailable.
    """
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(20),
            wait=wait_fixed(0.25),
            reraise=True,
            retry=retry_if_exception_type((OSError, asyncpg.PostgresError)),
        ):
            with attempt:
                pool = await asyncpg.create_pool(
                    database_url, min_size=min_size, max_size=max_size, command_timeout=30
                )
                assert pool is not None
                return pool
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(f"cannot connect to Postgres: {exc}") from exc
    raise AssertionError("unreachable")


async def migrate(pool: asyncpg.Pool, schema: str, statements: Sequence[str]) -> None:
    """Create `schema` and run idempotent DDL under an advisory lock (safe with several replicas)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for stmt in statements:
            await conn.execute(stmt)


@asynccontextmanager
async def schema_lock(pool: asyncpg.Pool, schema: str) -> AsyncIterator[None]:
    """Hold `schema`'s migration lock (the one `migrate` takes) for DDL run elsewhere, such as the
    event store's tables that eventsourcing creates on its own connections: two sessions running
    CREATE ... IF NOT EXISTS at once can still collide in pg_class, so replicas take turns."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{schema}")


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: applied once, in order of `version` (1, 2, 3 ...), in a transaction."""

    version: int
    name: str
    statements: Sequence[str]


class MigrationError(RuntimeError):
    """The migrations cannot be applied: a gap in the versions, or a database newer than this code."""


_SQL_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


def sql_migrations(package: str) -> list[Migration]:
    """The migrations kept as SQL files in `package`: `0001_what_it_does.sql`, `0002_...`, in order.

    A file's number is its version and the rest of its name, underscores read as spaces, its name. Its
    text runs as one script with the component's schema first on the search_path, so it names tables
    without a schema and can be tried by hand with psql. MigrationError for a file named otherwise.
    """
    found: list[Migration] = []
    for file in sorted(resources.files(package).iterdir(), key=lambda f: f.name):
        if not file.name.endswith(".sql"):
            continue
        named = _SQL_FILE.fullmatch(file.name)
        if named is None:
            raise MigrationError(f"{package}: {file.name} is not named like 0001_what_it_does.sql")
        found.append(Migration(int(named[1]), named[2].replace("_", " "), [file.read_text()]))
    return found


async def apply_migrations(
    pool: asyncpg.Pool, schema: str, component: str, migrations: Sequence[Migration]
) -> list[int]:
    """Bring `component`'s tables in `schema` to the latest version; returns the versions applied now.

    Each schema keeps `schema_migrations (component, version, name, applied_at)`. Under an advisory
    lock (so replicas starting together take turns) the versions not yet recorded are applied in
    order, all in one transaction, with `schema` first on the search_path (a migration may name its
    tables without a schema): a failing step leaves the database as it was. A database that
    has a version this code does not know was migrated by newer code: an error, not a guess.
    Version 1 of a component that used to run idempotent `CREATE ... IF NOT EXISTS` DDL keeps that
    DDL, so an existing database adopts the versioning without a change.
    """
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"{component} migrations must be numbered 1, 2, 3 ... in order, not {versions}")
    table = f'"{schema}".schema_migrations'
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f"""CREATE TABLE IF NOT EXISTS {table} (
            component text NOT NULL,
            version integer NOT NULL,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (component, version)
        )""")
        applied = {
            int(r["version"])
            for r in await conn.fetch(f"SELECT version FROM {table} WHERE component = $1", component)
        }
        unknown = sorted(applied - set(versions))
        if unknown:
            raise MigrationError(
                f"{schema} has {component} migration(s) {unknown} that this code does not know: "
                "the database was migrated by a newer version"
            )
        done: list[int] = []
        for m in migrations:
            if m.version in applied:
                continue
            await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
            for stmt in m.statements:
                await conn.execute(stmt)
            await conn.execute(
                f"INSERT INTO {table} (component, version, name) VALUES ($1, $2, $3)",
                component,
                m.version,
                m.name,
            )
            done.append(m.version)
        return done


def parse_database_url(database_url: str) -> dict[str, str]:
    """Split a postgres URL into host/port/dbname/user/password (host may be a socket directory)."""
    u = urlparse(database_url)
    q = parse_qs(u.query)
    host = q.get("host", [u.hostname or "127.0.0.1"])[0]
    return {
        "host": unquote(host),
        "port": str(u.port or 5432),
        "dbname": (u.path or "/postgres").lstrip("/") or "postgres",
        "user": unquote(u.username or "postgres"),
        "password": unquote(u.password or ""),
    }


def eventsourcing_env(database_url: str, prefix: str = "", schema: str | None = None) -> dict[str, str]:
    """Environment for an eventsourcing Application on Postgres (keys optionally prefixed by app name)."""
    p = parse_database_url(database_url)
    pre = f"{prefix.upper()}_" if prefix else ""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        f"{pre}POSTGRES_DBNAME": p["dbname"],
        f"{pre}POSTGRES_HOST": p["host"],
        f"{pre}POSTGRES_PORT": p["port"],
        f"{pre}POSTGRES_USER": p["user"],
        f"{pre}POSTGRES_PASSWORD": p["password"],
    }
    if schema:
        env[f"{pre}POSTGRES_SCHEMA"] = schema
    return env
