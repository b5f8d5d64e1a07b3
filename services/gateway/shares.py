"""Share links: unguessable tokens for the public, read-only view of a completed job.

Only a token's SHA-256 is stored (a leaked database does not leak working links). A share dies
with its revocation, with the job's deletion, and with its owner's account.
"""

from __future__ import annotations

import re
import secrets

import asyncpg

from services.gateway.schema import check_ident
from services.gateway.tokens import hash_token

SHARE_MARK = "shr_"
MAX_LIVE_SHARES = 20
_SHARE_TOKEN = re.compile(r"^shr_[A-Za-z0-9_-]{40,60}$")


def new_share_token() -> str:
    return SHARE_MARK + secrets.token_urlsafe(32)


def looks_like_share_token(value: str) -> bool:
    return bool(_SHARE_TOKEN.match(value))


class TooManyShares(Exception):
    """The job has MAX_LIVE_SHARES live links already."""


class SharesStore:
    """`<schema>.shares`, keyed by the token's hash."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.s = check_ident(schema)

    async def create(self, job_id: str, owner_id: str) -> str:
        """A new token for the job (earlier tokens stay valid until revoked); returned this once.

        TooManyShares past MAX_LIVE_SHARES live links to one job (each is a row; revoke to start over).
        """
        token = new_share_token()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"gw-shares:{job_id}")
            live = await conn.fetchval(
                f"SELECT count(*) FROM {self.s}.shares WHERE job_id = $1 AND revoked_at IS NULL", job_id
            )
            if int(live or 0) >= MAX_LIVE_SHARES:
                raise TooManyShares()
            await conn.execute(
                f"INSERT INTO {self.s}.shares (hash, job_id, owner_id) VALUES ($1, $2, $3)",
                hash_token(token),
                job_id,
                owner_id,
            )
        return token

    async def revoke(self, job_id: str, owner_id: str) -> int:
        """Revoke every live share of the job; how many there were."""
        status = await self.pool.execute(
            f"UPDATE {self.s}.shares SET revoked_at = now() WHERE job_id = $1 AND owner_id = $2 AND revoked_at IS NULL",
            job_id,
            owner_id,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def resolve(self, token: str) -> tuple[str, str] | None:
        """(job_id, owner_id) of a live share whose owner still exists, or None."""
        if not looks_like_share_token(token):
            return None
        row = await self.pool.fetchrow(
            f"""SELECT s.job_id, s.owner_id FROM {self.s}.shares s JOIN {self.s}.users u ON u.id = s.owner_id
                 WHERE s.hash = $1 AND s.revoked_at IS NULL AND u.deleted_at IS NULL""",
            hash_token(token),
        )
        return (row["job_id"], row["owner_id"]) if row is not None else None
