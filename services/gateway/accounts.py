"""Users, API keys and sessions in Postgres (schema `gateway`): the gateway's account repository.

`ensure_local_user` and `create_api_key` are what `simswarm up` calls to hand the local user a key.
Keys and session tokens are stored as SHA-256 hashes; passwords with argon2. Nothing here logs a secret.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.gateway.account_tokens import AccountTokens
from services.gateway.schema import check_ident, ensure_schema
from services.gateway.tokens import hash_token, new_api_key, new_session_token, token_prefix

LOCAL_EMAIL = "local@simswarm.local"
SESSION_TTL = timedelta(days=7)
MIN_PASSWORD = 8
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$|^[^@\s]{1,64}@[a-z0-9-]{1,63}\.local$", re.I)
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("simswarm-dummy-password")  # equalises login timing for unknown emails


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from a bearer key or session token."""

    user_id: str
    email: str
    via: str  # "api_key" | "session"
    credential_id: str


class AccountError(ValueError):
    """A registration/login problem meant for the client (`code` is machine-readable)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _new_id() -> str:
    return uuid.uuid4().hex


def valid_email(email: str) -> bool:
    return bool(_EMAIL.match(email.strip()))


class Accounts:
    """Repository over the gateway schema's users, api_keys and sessions tables."""

    def __init__(self, pool: asyncpg.Pool, schema: str = "gateway") -> None:
        self.pool = pool
        self.s = check_ident(schema)

    async def user_by_email(self, email: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT * FROM {self.s}.users WHERE lower(email) = lower($1) AND deleted_at IS NULL",
            email.strip(),
        )

    async def create_user(self, email: str, password: str | None = None) -> dict[str, Any]:
        """Create a user; AccountError `email_taken` when the address (any case) is in use."""
        email = email.strip()
        if not valid_email(email):
            raise AccountError("invalid_email", "email: is not a valid email address")
        if password is not None and len(password) < MIN_PASSWORD:
            raise AccountError("weak_password", f"password: must be at least {MIN_PASSWORD} characters")
        pw_hash = await asyncio.to_thread(_hasher.hash, password) if password is not None else None
        user_id = _new_id()
        try:
            row = await self.pool.fetchrow(
                f"INSERT INTO {self.s}.users (id, email, password_hash) VALUES ($1, $2, $3) RETURNING *",
                user_id,
                email,
                pw_hash,
            )
        except asyncpg.UniqueViolationError as exc:
            raise AccountError("email_taken", "email: is already registered") from exc
        assert row is not None
        return user_dict(row)

    async def verify_password(self, email: str, password: str) -> dict[str, Any] | None:
        """The user if the password matches; None on any mismatch (same cost either way)."""
        row = await self.user_by_email(email)
        stored = row["password_hash"] if row is not None and row["password_hash"] else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return user_dict(row) if row is not None and row["password_hash"] else None

    async def create_api_key(
        self, user_id: str, name: str, expires_at: datetime | None = None
    ) -> tuple[dict[str, Any], str]:
        """A new key for a user: (its public description, the key itself — shown once).

        With `expires_at` the key is refused from that moment on.
        """
        key = new_api_key()
        row = await self.pool.fetchrow(
            f"""INSERT INTO {self.s}.api_keys (id, user_id, name, prefix, hash, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            _new_id(),
            user_id,
            name,
            token_prefix(key),
            hash_token(key),
            expires_at,
        )
        assert row is not None
        return key_dict(row), key

    async def list_api_keys(self, user_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"""SELECT * FROM {self.s}.api_keys WHERE user_id = $1 AND revoked_at IS NULL
                ORDER BY created_at DESC""",
            user_id,
        )
        return [key_dict(r) for r in rows]

    async def revoke_api_key(self, user_id: str, key_id: str) -> bool:
        """Revoke one of the user's keys; False when it has no such live key."""
        return await self._revoke(self.pool, "api_keys", user_id, key_id)

    async def create_session(
        self, user_id: str, ttl: timedelta = SESSION_TTL, token: str | None = None
    ) -> tuple[str, datetime]:
        """A session for the user, valid for `ttl`: a new session token, or `token` when the caller
        made one of its own kind (a stream ticket, which opens one job's stream and nothing else)."""
        token = token or new_session_token()
        expires = datetime.now(UTC) + ttl
        await self.pool.execute(
            f"INSERT INTO {self.s}.sessions (id, user_id, hash, expires_at) VALUES ($1, $2, $3, $4)",
            _new_id(),
            user_id,
            hash_token(token),
            expires,
        )
        return token, expires

    async def revoke_session(self, user_id: str, session_id: str) -> bool:
        """End one session (logout): its token stops working on the next request."""
        return await self._revoke(self.pool, "sessions", user_id, session_id)

    async def change_password(self, user_id: str, current: str, new: str) -> None:
        """Set a new password and revoke every session and API key of the user, atomically.

        AccountError `wrong_password` when `current` does not match (or the user has none),
        `weak_password` when `new` is too short.
        """
        if len(new) < MIN_PASSWORD:
            raise AccountError("weak_password", f"new_password: must be at least {MIN_PASSWORD} characters")
        await self._check_password(user_id, current)
        new_hash = await asyncio.to_thread(_hasher.hash, new)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"UPDATE {self.s}.users SET password_hash = $2 WHERE id = $1", user_id, new_hash
            )
            await self._revoke_all(conn, user_id)

    async def reset_password(self, tokens: AccountTokens, token: str, new: str) -> dict[str, Any] | None:
        """Set a new password with a reset token, revoking every session and API key, atomically.

        None when the token is unknown, expired or used (it works once); AccountError `weak_password`.
        Proving control of the mailbox also verifies the address.
        """
        if len(new) < MIN_PASSWORD:
            raise AccountError("weak_password", f"new_password: must be at least {MIN_PASSWORD} characters")
        new_hash = await asyncio.to_thread(_hasher.hash, new)
        async with self.pool.acquire() as conn, conn.transaction():
            user_id = await tokens.consume(token, "reset_password", conn)
            if user_id is None:
                return None
            row = await conn.fetchrow(
                f"""UPDATE {self.s}.users SET password_hash = $2, email_verified_at = coalesce(email_verified_at, now())
                     WHERE id = $1 RETURNING *""",
                user_id,
                new_hash,
            )
            await self._revoke_all(conn, user_id)
        return user_dict(row) if row is not None else None

    async def verify_email(self, tokens: AccountTokens, token: str) -> dict[str, Any] | None:
        """Mark the address of a verification token's user as verified; None for a dead token."""
        async with self.pool.acquire() as conn, conn.transaction():
            user_id = await tokens.consume(token, "verify_email", conn)
            if user_id is None:
                return None
            row = await conn.fetchrow(
                f"UPDATE {self.s}.users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1 "
                "RETURNING *",
                user_id,
            )
        return user_dict(row) if row is not None else None

    async def confirm_deletion(self, user_id: str, password: str | None, confirm_email: str | None) -> None:
        """A deletion must be confirmed: with the password, or for an account without one (the local
        user) by repeating its e-mail address, so no stray request (a client bug, a fuzzer) deletes it.

        AccountError `password_required`, `wrong_password` or `confirmation_required` otherwise.
        """
        row = await self.pool.fetchrow(
            f"SELECT email, password_hash FROM {self.s}.users WHERE id = $1", user_id
        )
        if row is None:
            return
        if row["password_hash"]:
            if password is None:
                raise AccountError("password_required", "password: required to delete an account")
            await self._check_password(user_id, password)
        elif (confirm_email or "").strip().lower() != row["email"].lower():
            raise AccountError(
                "confirmation_required", "confirm_email: repeat the account's e-mail address to delete it"
            )

    async def delete_user(self, user_id: str) -> None:
        """Delete an account: revoke every session and key, forget the e-mail and the password hash.

        The row stays (jobs and keys refer to it) under a placeholder address, so the real address can
        be registered again. Call `confirm_deletion` first.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""UPDATE {self.s}.users SET deleted_at = now(), password_hash = NULL,
                           email = 'deleted-' || id || '@deleted.invalid'
                     WHERE id = $1 AND deleted_at IS NULL""",
                user_id,
            )
            await self._revoke_all(conn, user_id)

    async def _check_password(self, user_id: str, password: str) -> None:
        row = await self.pool.fetchrow(
            f"SELECT password_hash FROM {self.s}.users WHERE id = $1 AND deleted_at IS NULL", user_id
        )
        stored = row["password_hash"] if row is not None and row["password_hash"] else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            raise AccountError("wrong_password", "the current password is incorrect") from None
        if stored is _DUMMY_HASH:
            raise AccountError("wrong_password", "the current password is incorrect")

    async def _revoke_all(self, conn: asyncpg.Connection, user_id: str) -> None:
        for table in ("sessions", "api_keys"):
            await self._revoke(conn, table, user_id)

    async def _revoke(
        self,
        conn: asyncpg.Connection | asyncpg.Pool,
        table: Literal["sessions", "api_keys"],
        user_id: str,
        row_id: str | None = None,
    ) -> bool:
        """Revoke the user's live credential `row_id` in `table`, or all of them; whether any was."""
        where = "user_id = $1 AND revoked_at IS NULL" + (" AND id = $2" if row_id is not None else "")
        args = (user_id,) if row_id is None else (user_id, row_id)
        status = await conn.execute(f"UPDATE {self.s}.{table} SET revoked_at = now() WHERE {where}", *args)
        return not status.endswith(" 0")

    async def principal_for(self, token: str) -> Principal | None:
        """Resolve a bearer token (API key or session) to a live user, or None.

        Looked up on every request (no cache), so a revoked session or key stops working at once.
        """
        digest = hash_token(token)
        row = await self.pool.fetchrow(
            f"""SELECT k.id AS cid, u.id AS uid, u.email, 'api_key' AS via
                  FROM {self.s}.api_keys k JOIN {self.s}.users u ON u.id = k.user_id
                 WHERE k.hash = $1 AND k.revoked_at IS NULL AND u.deleted_at IS NULL
                   AND (k.expires_at IS NULL OR k.expires_at > now())
                UNION ALL
                SELECT s.id, u.id, u.email, 'session'
                  FROM {self.s}.sessions s JOIN {self.s}.users u ON u.id = s.user_id
                 WHERE s.hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
                   AND u.deleted_at IS NULL
                LIMIT 1""",
            digest,
        )
        if row is None:
            return None
        return Principal(user_id=row["uid"], email=row["email"], via=row["via"], credential_id=row["cid"])


def user_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "created_at": row["created_at"].isoformat(),
        "email_verified": row.get("email_verified_at") is not None,
    }


def key_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "created_at": row["created_at"].isoformat(),
        "last_used_at": row["last_used_at"].isoformat() if row["last_used_at"] else None,
        "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None,
    }


async def create_api_key(
    pool: asyncpg.Pool, user_id: str, name: str = "default", *, schema: str = "gateway"
) -> str:
    """Create an API key for a user and return it (the only time it is visible)."""
    await ensure_schema(pool, schema)
    _, key = await Accounts(pool, schema).create_api_key(user_id, name)
    return key


async def ensure_local_user(
    pool: asyncpg.Pool, email: str = LOCAL_EMAIL, *, key_name: str = "simswarm-up", schema: str = "gateway"
) -> tuple[str, str]:
    """The local user (created if missing) and a fresh API key for it: `(user_id, api_key)`.

    Used by `simswarm up` to write `$SIMSWARM_HOME/api-key`. Earlier keys stay valid: only their
    hashes are stored, so they cannot be handed out again.
    """
    await ensure_schema(pool, schema)
    accounts = Accounts(pool, schema)
    row = await accounts.user_by_email(email)
    if row is None:
        try:
            user_id = (await accounts.create_user(email))["id"]
        except AccountError as exc:
            if exc.code != "email_taken":
                raise
            row = await accounts.user_by_email(email)  # created concurrently
            assert row is not None
            user_id = row["id"]
    else:
        user_id = row["id"]
    _, key = await accounts.create_api_key(user_id, key_name)
    return user_id, key
