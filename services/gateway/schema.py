"""The gateway's own tables (schema `gateway` by default): users, API keys, sessions, job requests,
rate-limit buckets, drafts, shares and e-mail tokens.

Versioned migrations, one SQL file each in services/gateway/migrations (services.kit.db): each applied
once, in order, recorded in `<schema>.schema_migrations`, under an advisory lock so two replicas
starting together take turns. Version 1 is the schema as it stood when versioning began (still
`IF NOT EXISTS`, so databases made before adopt it unchanged); a change to the tables is a new file.
"""

from __future__ import annotations

import re

import asyncpg

from services.kit.db import Migration, apply_migrations, sql_migrations

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_ident(name: str) -> str:
    """A schema name that is safe to put into SQL text (they cannot be bound as parameters)."""
    if not _IDENT.match(name):
        raise ValueError(f"invalid schema name {name!r}: lowercase letters, digits and _ only")
    return name


def migrations() -> list[Migration]:
    """The gateway's schema, version by version: services/gateway/migrations/NNNN_*.sql (add a file;
    never edit an applied one)."""
    return sql_migrations("services.gateway.migrations")


async def ensure_schema(pool: asyncpg.Pool, schema: str = "gateway") -> None:
    """Bring the gateway's tables to the latest version (safe across replicas)."""
    await apply_migrations(pool, check_ident(schema), "gateway", migrations())
