"""The gateway's own tables (schema `gateway` by default): users, API keys, sessions, job requests,
rate-limit buckets, drafts, shares and e-mail tokens.

Versioned migrations (services.kit.db.apply_migrations): each applied once, in order, recorded in
`<schema>.schema_migrations`, under an advisory lock so two replicas starting together take turns.
Version 1 is the schema as it stood when versioning began (still `IF NOT EXISTS`, so databases made
before adopt it unchanged); a change to the tables is a new version appended to `migrations()`.
"""

from __future__ import annotations

import re

import asyncpg

from services.kit.db import Migration, apply_migrations

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_ident(name: str) -> str:
    """A schema name that is safe to put into SQL text (they cannot be bound as parameters)."""
    if not _IDENT.match(name):
        raise ValueError(f"invalid schema name {name!r}: lowercase letters, digits and _ only")
    return name


def statements(schema: str) -> list[str]:
    s = check_ident(schema)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""CREATE TABLE IF NOT EXISTS {s}.users (
            id text PRIMARY KEY,
            email text NOT NULL,
            password_hash text,
            created_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        )""",
        f"CREATE UNIQUE INDEX IF NOT EXISTS users_email_ci ON {s}.users (lower(email))",
        f"""CREATE TABLE IF NOT EXISTS {s}.api_keys (
            id text PRIMARY KEY,
            user_id text NOT NULL REFERENCES {s}.users(id),
            name text NOT NULL,
            prefix text NOT NULL,
            hash text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz
        )""",
        f"CREATE INDEX IF NOT EXISTS api_keys_user ON {s}.api_keys (user_id)",
        f"ALTER TABLE {s}.api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz",
        f"""CREATE TABLE IF NOT EXISTS {s}.sessions (
            id text PRIMARY KEY,
            user_id text NOT NULL REFERENCES {s}.users(id),
            hash text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        )""",
        # What this gateway asked the orchestrator to create: ownership before the projection
        # catches up, the 60 s duplicate guard and the live-job quota.
        f"""CREATE TABLE IF NOT EXISTS {s}.job_requests (
            job_id text PRIMARY KEY,
            owner_id text NOT NULL,
            fingerprint text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
        f"CREATE INDEX IF NOT EXISTS job_requests_owner ON {s}.job_requests (owner_id, created_at DESC)",
        # GCRA rate-limit buckets shared by every replica (services.gateway.ratelimit); times are
        # epoch seconds of the database's clock.
        f"""CREATE TABLE IF NOT EXISTS {s}.rate_limits (
            key text PRIMARY KEY,
            tat double precision NOT NULL,
            seen double precision NOT NULL,
            allowed boolean NOT NULL
        )""",
        # Deleting a job hides it from its owner; the orchestrator's projection stays untouched.
        f"""CREATE TABLE IF NOT EXISTS {s}.deleted_jobs (
            job_id text PRIMARY KEY,
            owner_id text NOT NULL,
            deleted_at timestamptz NOT NULL DEFAULT now()
        )""",
        # Job specs being written (POST /api/jobs/draft): partial, private to their owner.
        f"""CREATE TABLE IF NOT EXISTS {s}.drafts (
            id text PRIMARY KEY,
            owner_id text NOT NULL,
            spec jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            launched_job_id text
        )""",
        f"CREATE INDEX IF NOT EXISTS drafts_owner ON {s}.drafts (owner_id, updated_at DESC)",
        # Public read-only links to completed jobs; only the token's SHA-256 is kept.
        f"""CREATE TABLE IF NOT EXISTS {s}.shares (
            hash text PRIMARY KEY,
            job_id text NOT NULL,
            owner_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )""",
        f"CREATE INDEX IF NOT EXISTS shares_job ON {s}.shares (job_id)",
        # Single-use, expiring e-mail tokens (verification, password reset); only their SHA-256 is kept.
        f"""CREATE TABLE IF NOT EXISTS {s}.account_tokens (
            hash text PRIMARY KEY,
            user_id text NOT NULL REFERENCES {s}.users(id),
            purpose text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        )""",
        f"ALTER TABLE {s}.users ADD COLUMN IF NOT EXISTS email_verified_at timestamptz",
    ]


def migrations(schema: str) -> list[Migration]:
    """The gateway's schema, version by version (append; never edit an applied one)."""
    return [
        Migration(
            1, "users, keys, sessions, job requests, rate limits, drafts, shares, tokens", statements(schema)
        )
    ]


async def ensure_schema(pool: asyncpg.Pool, schema: str = "gateway") -> None:
    """Bring the gateway's tables to the latest version (safe across replicas)."""
    await apply_migrations(pool, check_ident(schema), "gateway", migrations(schema))
