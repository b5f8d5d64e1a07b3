"""E-mail verification and password reset: single-use, expiring tokens sent by mail (or to the log).

`forgot-password` answers 200 whatever the address, so it cannot tell who has an account; every
route here is rate limited per client address and per account (`mail_*`, `token_ip`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts.text import LINE_PATTERN
from services.gateway.account_tokens import AccountTokens, Purpose
from services.gateway.accounts import AccountError
from services.gateway.api_models import Accepted, AuthResult, User
from services.gateway.auth import Ctx, CurrentUser, rate_limit
from services.gateway.context import GatewayContext
from services.gateway.errors import ApiError, error_responses
from services.gateway.mailer import Mailer, MailError
from services.gateway.ratelimit import client_address
from services.gateway.responses import accepted
from services.gateway.text_fields import Email, LineCheck, Password

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/auth", tags=["auth"])

Token = Annotated[
    str, Field(min_length=1, max_length=200, json_schema_extra={"pattern": LINE_PATTERN}), LineCheck
]


class TokenBody(BaseModel):
    token: Token


class ResetBody(BaseModel):
    token: Token
    new_password: Password


class ForgotBody(BaseModel):
    email: Email


def _tokens(ctx: GatewayContext) -> AccountTokens:
    return AccountTokens(ctx.pool, ctx.accounts.s)


def _bad_token() -> ApiError:
    return ApiError(400, "invalid_token", "token: is invalid, expired or already used; ask for a new one")


def mail_in_background(ctx: GatewayContext, user_id: str, email: str, purpose: Purpose) -> None:
    """Issue and mail a token after the answer: the answer's timing must not tell whether an account
    exists (forgot-password), nor wait on a slow mail server (registration)."""

    async def run() -> None:
        try:
            await send_token_mail(ctx, user_id, email, purpose)
        except Exception:
            log.exception("%s mail for user %s failed", purpose, user_id)

    ctx.after_answer(run())


async def send_token_mail(ctx: GatewayContext, user_id: str, email: str, purpose: Purpose) -> None:
    """Issue a token and mail it; a mail server failure is logged, never shown (no enumeration)."""
    token = await _tokens(ctx).issue(user_id, purpose)
    base = ctx.settings.api_url.rstrip("/")
    if purpose == "verify_email":
        subject = "Confirm your SimSwarm e-mail address"
        body = (
            f"Confirm this address for your SimSwarm account:\n\n{base}/verify-email?token={token}\n\n"
            f'or POST {base}/api/auth/verify-email with {{"token": "{token}"}}.\n'
            "The link works once, for 48 hours. If you did not register, ignore this mail.\n"
        )
    else:
        subject = "Reset your SimSwarm password"
        body = (
            f"Set a new password for your SimSwarm account:\n\n{base}/reset-password?token={token}\n\n"
            f'or POST {base}/api/auth/reset-password with {{"token": "{token}", "new_password": ...}}.\n'
            "The link works once, for one hour, and signs out every session and API key of the account.\n"
            "If you did not ask for this, ignore this mail: your password stays as it is.\n"
        )
    try:
        await Mailer(ctx.settings).send(email, subject, body)
    except MailError as exc:
        log.warning("%s mail not sent: %s", purpose, exc)


@router.post(
    "/verify-email/request",
    summary="Send me a verification mail",
    **accepted(Accepted, 401, 409, 429),
)
async def request_verification(ctx: Ctx, user: CurrentUser, request: Request) -> JSONResponse:
    """Mail a fresh verification link to the caller's address (earlier links stop working).
    409 `already_verified`; 429 `rate_limited` (`mail_ip`, `mail_account`)."""
    await rate_limit(ctx, "mail_ip", client_address(request))
    await rate_limit(ctx, "mail_account", user.email.lower())
    row = await ctx.accounts.user_by_email(user.email)
    if row is not None and row["email_verified_at"] is not None:
        raise ApiError(409, "already_verified", f"email: {user.email} is already verified")
    await send_token_mail(ctx, user.user_id, user.email, "verify_email")
    return JSONResponse(
        {"status": "sent", "detail": f"a verification link was sent to {user.email}"}, status_code=202
    )


@router.post(
    "/verify-email",
    summary="Verify my e-mail address with the mailed token",
    responses={200: {"model": User}, **error_responses(400, 422, 429)},
)
async def verify_email(body: TokenBody, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Consume a verification token (it works once); 400 `invalid_token` when unknown, expired or used."""
    await rate_limit(ctx, "token_ip", client_address(request))
    user = await ctx.accounts.verify_email(_tokens(ctx), body.token)
    if user is None:
        raise _bad_token()
    return user


@router.post(
    "/forgot-password",
    summary="Mail me a password-reset link",
    responses={200: {"model": Accepted}, **error_responses(422, 429)},
)
async def forgot_password(body: ForgotBody, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Always 200, whether or not the address has an account (nothing to learn from it); the mail goes
    only to an existing account's address. 429 `rate_limited` (`mail_ip`, `mail_account`)."""
    await rate_limit(ctx, "mail_ip", client_address(request))
    await rate_limit(ctx, "mail_account", body.email.strip().lower())
    row = await ctx.accounts.user_by_email(body.email)
    if row is not None:
        mail_in_background(ctx, row["id"], row["email"], "reset_password")
    return {"status": "ok", "detail": "if the address has an account, a reset link is on its way"}


@router.post(
    "/reset-password",
    summary="Set a new password with the mailed token",
    responses={200: {"model": AuthResult}, **error_responses(400, 422, 429)},
)
async def reset_password(body: ResetBody, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Set the new password; every session and API key of the account is revoked and a fresh session
    returned. 400 `invalid_token` (unknown, expired or used), 422 `weak_password`."""
    await rate_limit(ctx, "token_ip", client_address(request))
    try:
        user = await ctx.accounts.reset_password(_tokens(ctx), body.token, body.new_password)
    except AccountError as exc:
        raise ApiError(422, exc.code, exc.detail) from None
    if user is None:
        raise _bad_token()
    token, expires = await ctx.accounts.create_session(user["id"])
    return {"user": user, "token": token, "expires_at": expires.isoformat()}
