"""Single-use, expiring e-mail tokens (address verification, password reset); only SHA-256 is stored."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from services.gateway.schema import check_ident
from services.gateway.tokens import hash_token

Purpose = Literal["verify_email", "reset_password"]
TTL: dict[str, timedelta] = {"verify_email": timedelta(hours=48), "reset_password": timedelta(hours=1)}
MARK: dict[str, str] = {"verify_email": "sev_", "reset_password": "spr_"}


class AccountTokens:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.s = check_ident(schema)

    async def issue(self, user_id: str, purpose: Purpose) -> str:
        """A new token for `purpose`; earlier unused ones of the same purpose stop working."""
        token = MARK[purpose] + secrets.token_urlsafe(32)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""UPDATE {self.s}.account_tokens SET used_at = now()
                     WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL""",
                user_id,
                purpose,
            )
            await conn.execute(
                f"""INSERT INTO {self.s}.account_tokens (hash, user_id, purpose, expires_at)
                    VALUES ($1, $2, $3, $4)""",
                hash_token(token),
                user_id,
                purpose,
                datetime.now(UTC) + TTL[purpose],
            )
        return token

    async def consume(
        self, token: str, purpose: Purpose, conn: asyncpg.Connection | None = None
    ) -> str | None:
        """The user id of a live token, marking it used in the same statement (so it works once); else None."""
        if not token.startswith(MARK[purpose]) or len(token) > 200:
            return None
        user_id = await (conn or self.pool).fetchval(
            f"""UPDATE {self.s}.account_tokens t SET used_at = now()
                  FROM {self.s}.users u
                 WHERE t.hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > now()
                   AND u.id = t.user_id AND u.deleted_at IS NULL
             RETURNING t.user_id""",
            hash_token(token),
            purpose,
        )
        return str(user_id) if user_id is not None else None
