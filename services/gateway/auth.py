"""Bearer authentication: `Authorization: Bearer <api key | session token>` -> the calling user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.accounts import Principal
from services.gateway.context import GatewayContext, get_ctx
from services.gateway.errors import ApiError
from services.gateway.ratelimit import RateLimited
from services.gateway.tokens import looks_like_token

_bearer = HTTPBearer(auto_error=False, description="An API key (`ssk_...`) or a session token (`sst_...`)")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_user(
    ctx: Annotated[GatewayContext, Depends(get_ctx)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 `missing_credentials` or `invalid_credentials` otherwise."""
    if creds is None or not creds.credentials:
        raise ApiError(
            401, "missing_credentials", "an API key is required: Authorization: Bearer <key>", _CHALLENGE
        )
    token = creds.credentials.strip()
    principal = await ctx.accounts.principal_for(token) if looks_like_token(token) else None
    if principal is None:
        raise ApiError(
            401, "invalid_credentials", "the API key or token is invalid, expired or revoked", _CHALLENGE
        )
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]
Ctx = Annotated[GatewayContext, Depends(get_ctx)]


async def rate_limit(ctx: GatewayContext, name: str, subject: str) -> None:
    """Count a request against the limit `name` for `subject`; 429 `rate_limited` with Retry-After."""
    try:
        await ctx.limiter.hit(name, subject)
    except RateLimited as exc:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests ({name}); retry in {exc.retry_after_s} s",
            {"Retry-After": str(exc.retry_after_s)},
        ) from None


async def limit_job_creation(ctx: Ctx, user: CurrentUser) -> None:
    """Dependency for POST /api/jobs: the per-user creation limit (`jobs_user`)."""
    await rate_limit(ctx, "jobs_user", user.user_id)


JobCreationLimit = Depends(limit_job_creation)
