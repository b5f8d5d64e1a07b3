"""Accounts: register, log in/out (session tokens), password change, account deletion, API keys.

Log-in, registration, password change and account deletion are rate limited per client address
and per account (services.gateway.ratelimit): each costs an argon2 hash, and they are what a guesser
hammers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from contracts.spec import TERMINAL_STATUSES
from services.gateway import commands
from services.gateway.accounts import AccountError, user_dict
from services.gateway.api_models import ApiKey, AuthResult, NewApiKey
from services.gateway.auth import Ctx, CurrentUser, rate_limit
from services.gateway.demo import WritesAllowed
from services.gateway.errors import ApiError, error_responses
from services.gateway.ownership import owned_or_404
from services.gateway.ratelimit import client_address
from services.gateway.responses import created, no_content
from services.gateway.routes.account_mail import mail_in_background
from services.gateway.text_fields import Email, KeyName, Password

router = APIRouter(tags=["auth"])
MAX_KEY_DAYS = 3650


class Credentials(BaseModel):
    email: Email
    password: Password


class KeyRequest(BaseModel):
    name: KeyName = "default"
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (with a time zone); at most 10 years ahead"
    )
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_KEY_DAYS, description="Or: the key stops working this many days from now"
    )


class PasswordChange(BaseModel):
    current_password: Password
    new_password: Password


class AccountDeletion(BaseModel):
    password: Password | None = Field(default=None, description="Required when the account has one")
    confirm_email: Email | None = Field(
        default=None, description="For an account without a password: its e-mail address, as a confirmation"
    )


def _account_key(email: str) -> str:
    return email.strip().lower()


def _key_expiry(body: KeyRequest) -> datetime | None:
    """The expiry a key request asks for; 422 naming the field when it is unusable."""
    now = datetime.now(UTC)
    if body.expires_at is not None and body.expires_in_days is not None:
        raise ApiError(
            422, "invalid_request", "expires_at: give either expires_at or expires_in_days, not both"
        )
    if body.expires_in_days is not None:
        return now + timedelta(days=body.expires_in_days)
    if body.expires_at is None:
        return None
    if body.expires_at <= now:
        raise ApiError(422, "invalid_request", "expires_at: must be in the future")
    if body.expires_at > now + timedelta(days=MAX_KEY_DAYS):
        raise ApiError(422, "invalid_request", f"expires_at: must be within {MAX_KEY_DAYS} days")
    return body.expires_at


async def _session(ctx: Ctx, user: dict[str, Any]) -> dict[str, Any]:
    token, expires = await ctx.accounts.create_session(user["id"])
    return {"user": user, "token": token, "expires_at": expires.isoformat()}


@router.post(
    "/api/auth/register",
    summary="Create an account",
    **created(AuthResult, 403, 409, 422, 429),
    dependencies=[WritesAllowed],
)
async def register(body: Credentials, ctx: Ctx, request: Request) -> JSONResponse:
    """A new user (email unique regardless of case; password ≥ 8 characters) and a session token.
    A verification link is mailed to the address (`POST /api/auth/verify-email`).

    429 `rate_limited` past `register_ip` accounts per client address.
    """
    await rate_limit(ctx, "register_ip", client_address(request))
    try:
        user = await ctx.accounts.create_user(body.email, body.password)
    except AccountError as exc:
        raise ApiError(409 if exc.code == "email_taken" else 422, exc.code, exc.detail) from None
    mail_in_background(ctx, user["id"], user["email"], "verify_email")
    return JSONResponse(await _session(ctx, user), status_code=201)


@router.post(
    "/api/auth/login",
    summary="Log in",
    responses={200: {"model": AuthResult}, **error_responses(401, 422, 429)},
)
async def login(body: Credentials, ctx: Ctx, request: Request) -> dict[str, Any]:
    """A session token for valid credentials; 401 for any mismatch (no hint which part was wrong).

    429 `rate_limited` past `login_ip` attempts per client address or `login_account` per account.
    """
    await rate_limit(ctx, "login_ip", client_address(request))
    await rate_limit(ctx, "login_account", _account_key(body.email))
    user = await ctx.accounts.verify_password(body.email, body.password)
    if user is None:
        raise ApiError(401, "invalid_login", "email or password is incorrect")
    return await _session(ctx, user)


@router.post(
    "/api/auth/logout",
    summary="Log out (end this session)",
    **no_content("The session token no longer works", 400, 401),
)
async def logout(ctx: Ctx, user: CurrentUser) -> Response:
    """End the session whose token made the request; it is refused from the next request on.

    400 `not_a_session` for an API key (revoke those with `DELETE /api/keys/{id}`).
    """
    if user.via != "session":
        raise ApiError(
            400, "not_a_session", "logout ends a session token; revoke an API key with DELETE /api/keys/{id}"
        )
    await ctx.accounts.revoke_session(user.user_id, user.credential_id)
    return Response(status_code=204)


@router.put(
    "/api/profile/password",
    tags=["profile"],
    summary="Change my password",
    responses={200: {"model": AuthResult}, **error_responses(401, 403, 422, 429)},
)
async def change_password(
    body: PasswordChange, ctx: Ctx, user: CurrentUser, request: Request
) -> dict[str, Any]:
    """Set a new password (the current one is required). Every session and API key of the account is
    revoked at once; the answer carries a fresh session token.

    403 `wrong_password`, 422 `weak_password`, 429 `rate_limited` (the log-in limits apply).
    """
    await rate_limit(ctx, "login_ip", client_address(request))
    await rate_limit(ctx, "login_account", _account_key(user.email))
    try:
        await ctx.accounts.change_password(user.user_id, body.current_password, body.new_password)
    except AccountError as exc:
        raise ApiError(403 if exc.code == "wrong_password" else 422, exc.code, exc.detail) from None
    row = await ctx.accounts.user_by_email(user.email)
    if row is None:  # deleted meanwhile
        raise ApiError(401, "invalid_credentials", "the account no longer exists")
    return await _session(ctx, user_dict(row))


@router.delete(
    "/api/profile/account",
    tags=["profile"],
    summary="Delete my account",
    **no_content("Deleted; every session and key is revoked", 401, 403, 422, 429, 502, 503),
)
async def delete_account(
    ctx: Ctx, user: CurrentUser, request: Request, body: AccountDeletion | None = None
) -> Response:
    """Delete the caller's account: its live jobs are cancelled (their pods torn down), every session
    and API key stops working at once, and the e-mail address and password hash are forgotten (the
    address can be registered again).

    Body `{"password": ...}`: required when the account has a password (422 `password_required`,
    403 `wrong_password`); an account without one (the local user of `simswarm up`) confirms with
    `{"confirm_email": ...}` (422 `confirmation_required`). 502/503 when a cancel cannot be
    delivered: the account is then kept, so a retry finishes the job.
    """
    await rate_limit(ctx, "login_ip", client_address(request))
    await rate_limit(ctx, "login_account", _account_key(user.email))
    try:
        confirm = body or AccountDeletion()
        await ctx.accounts.confirm_deletion(user.user_id, confirm.password, confirm.confirm_email)
    except AccountError as exc:
        raise ApiError(403 if exc.code == "wrong_password" else 422, exc.code, exc.detail) from None
    for job_id in await ctx.jobs.live_job_ids(user.user_id, sorted(s.value for s in TERMINAL_STATUSES)):
        await commands.cancel_before_removal(
            ctx.bus, job_id, user.user_id, "account deleted", ctx.command_timeout_s
        )
    await ctx.accounts.delete_user(user.user_id)
    return Response(status_code=204)


@router.post(
    "/api/keys",
    summary="Create an API key",
    **created(NewApiKey, 401, 422),
)
async def create_key(ctx: Ctx, user: CurrentUser, body: KeyRequest | None = None) -> JSONResponse:
    """A new API key; the `key` field is shown this once and never again.

    Optional expiry: `expires_at` (with a time zone) or `expires_in_days` (1..3650); an expired key
    is refused with 401 `invalid_credentials`.
    """
    req = body or KeyRequest()
    info, key = await ctx.accounts.create_api_key(user.user_id, req.name, _key_expiry(req))
    return JSONResponse({**info, "key": key}, status_code=201)


@router.get(
    "/api/keys", summary="List my API keys", responses={200: {"model": list[ApiKey]}, **error_responses(401)}
)
async def list_keys(ctx: Ctx, user: CurrentUser) -> list[dict[str, Any]]:
    """The caller's live keys, by prefix only."""
    return await ctx.accounts.list_api_keys(user.user_id)


@router.delete("/api/keys/{key_id}", summary="Revoke an API key", **no_content("Revoked", 401, 404))
async def revoke_key(key_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """Revoke one of the caller's keys; it stops working at once."""
    await owned_or_404("key", key_id, lambda i: ctx.accounts.revoke_api_key(user.user_id, i), noun="API key")
    return Response(status_code=204)
