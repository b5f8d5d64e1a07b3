"""Accounts: register, log in (a session token), and API keys for programs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.gateway.accounts import AccountError
from services.gateway.api_models import ApiKey, AuthResult, NewApiKey
from services.gateway.auth import Ctx, CurrentUser
from services.gateway.errors import ApiError, error_responses

router = APIRouter(tags=["auth"])


class Credentials(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class KeyRequest(BaseModel):
    name: str = Field(default="default", min_length=1, max_length=100)


async def _session(ctx: Ctx, user: dict[str, Any]) -> dict[str, Any]:
    token, expires = await ctx.accounts.create_session(user["id"])
    return {"user": user, "token": token, "expires_at": expires.isoformat()}


@router.post(
    "/api/auth/register",
    status_code=201,
    summary="Create an account",
    responses={201: {"model": AuthResult}, **error_responses(409, 422)},
)
async def register(body: Credentials, ctx: Ctx) -> JSONResponse:
    """A new user (email unique regardless of case; password ≥ 8 characters) and a session token."""
    try:
        user = await ctx.accounts.create_user(body.email, body.password)
    except AccountError as exc:
        raise ApiError(409 if exc.code == "email_taken" else 422, exc.code, exc.detail) from None
    return JSONResponse(await _session(ctx, user), status_code=201)


@router.post(
    "/api/auth/login", summary="Log in", responses={200: {"model": AuthResult}, **error_responses(401, 422)}
)
async def login(body: Credentials, ctx: Ctx) -> dict[str, Any]:
    """A session token for valid credentials; 401 for any mismatch (no hint which part was wrong)."""
    user = await ctx.accounts.verify_password(body.email, body.password)
    if user is None:
        raise ApiError(401, "invalid_login", "email or password is incorrect")
    return await _session(ctx, user)


@router.post(
    "/api/keys",
    status_code=201,
    summary="Create an API key",
    responses={201: {"model": NewApiKey}, **error_responses(401, 422)},
)
async def create_key(ctx: Ctx, user: CurrentUser, body: KeyRequest | None = None) -> JSONResponse:
    """A new API key; the `key` field is shown this once and never again."""
    info, key = await ctx.accounts.create_api_key(user.user_id, (body or KeyRequest()).name)
    return JSONResponse({**info, "key": key}, status_code=201)


@router.get("/api/keys", summary="List my API keys", responses={200: {"model": list[ApiKey]}, **error_responses(401)})
async def list_keys(ctx: Ctx, user: CurrentUser) -> list[dict[str, Any]]:
    """The caller's live keys, by prefix only."""
    return await ctx.accounts.list_api_keys(user.user_id)


@router.delete(
    "/api/keys/{key_id}", status_code=204, summary="Revoke an API key",
    responses={204: {"description": "Revoked"}, **error_responses(401, 404)},
)
async def revoke_key(key_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """Revoke one of the caller's keys; it stops working at once."""
    if not await ctx.accounts.revoke_api_key(user.user_id, key_id):
        raise ApiError(404, "key_not_found", f"API key {key_id[:64]!r} not found")
    return Response(status_code=204)
