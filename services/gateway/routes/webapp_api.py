"""What the web app needs beyond the JSON API: stream tickets for EventSource, artifacts same-origin.

* A browser's `EventSource` cannot send `Authorization`, so the app asks (with its bearer token) for a
  **stream ticket**: a random token valid for 60 s that opens the SSE stream of one job of its owner,
  and nothing else. It is stored like a session (SHA-256 only, expiry, revoked with every session and
  key by a password change or an account deletion), carries its job id so it opens no other stream,
  and has its own mark (`sts_`), which the bearer check refuses, so it never works as a session.
  Reusable within its minute so EventSource's own reconnect works; the app fetches a new one after.
* `GET /api/jobs/{id}/artifacts/{name}` sends one artifact through the gateway: the presigned URLs of
  `sim-data` point at the object store, another origin, which a page cannot read without CORS there.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from services.gateway.accounts import Principal
from services.gateway.auth import Ctx, CurrentUser, _bearer, current_user
from services.gateway.errors import ApiError, error_responses
from services.gateway.routes.jobs import load_job
from services.gateway.shaping import artifact_list
from services.gateway.tokens import hash_token
from services.kit.objectstore import ObjectNotFound

router = APIRouter(prefix="/api/jobs", tags=["web app"])
TICKET_MARK = "sts_"
TICKET_TTL = timedelta(seconds=60)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_GRAPH_NAME = "graph.json"


class StreamTicket(BaseModel):
    ticket: str = Field(description="Pass as `?ticket=` to GET /api/jobs/{id}/stream of this job")
    expires_in: int = Field(description="Seconds the ticket can open the stream")


def _ticket_prefix(job_id: str) -> str:
    return f"{TICKET_MARK}{job_id}_"


@router.post(
    "/{job_id}/stream-ticket",
    status_code=201,
    summary="A 60-second ticket for this job's SSE stream (for EventSource)",
    responses={201: {"model": StreamTicket}, **error_responses(401, 404)},
)
async def stream_ticket(job_id: str, ctx: Ctx, user: CurrentUser) -> StreamTicket:
    """A ticket that opens `GET /api/jobs/{job_id}/stream?ticket=...` for 60 s; it grants nothing else."""
    await load_job(ctx, user, job_id)  # 404 for a job that is not the caller's
    ticket = _ticket_prefix(job_id) + secrets.token_urlsafe(24)
    accounts = ctx.accounts
    await accounts.pool.execute(
        f"INSERT INTO {accounts.s}.sessions (id, user_id, hash, expires_at) VALUES ($1, $2, $3, $4)",
        uuid.uuid4().hex, user.user_id, hash_token(ticket), datetime.now(UTC) + TICKET_TTL,
    )
    return StreamTicket(ticket=ticket, expires_in=int(TICKET_TTL.total_seconds()))


async def stream_user(
    job_id: str,
    ctx: Ctx,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[str | None, Query(
        max_length=200, description="A stream ticket (POST .../stream-ticket) where no header can be sent")] = None,
) -> Principal:
    """The caller of a stream: the bearer token as everywhere, or else a ticket for this very job."""
    if creds is not None and creds.credentials:
        return await current_user(ctx, creds)
    if not ticket:
        raise ApiError(401, "missing_credentials",
                       "an API key or a stream ticket is required: Authorization: Bearer <key> or ?ticket=", _CHALLENGE)
    principal = None
    if ticket.startswith(_ticket_prefix(job_id)):
        principal = await ctx.accounts.principal_for(ticket)
    if principal is None:
        raise ApiError(401, "invalid_credentials", "the stream ticket is invalid, expired or for another job",
                       _CHALLENGE)
    return principal


StreamUser = Annotated[Principal, Depends(stream_user)]


@router.get(
    "/{job_id}/artifacts/{name}",
    summary="One artifact of the job (engine output or graph.json), through the gateway",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": {}}}, "description": "The file as stored"},
        **error_responses(401, 404, 503),
    },
)
async def artifact(job_id: str, name: str, ctx: Ctx, user: CurrentUser) -> Response:
    """The stored bytes of one artifact named in the job (404 `artifact_not_found` otherwise)."""
    row = await load_job(ctx, user, job_id)
    return await send_artifact(ctx, row, name)


async def send_artifact(ctx: Any, row: dict[str, Any], name: str) -> Response:
    """The artifact `name` of the job `row`, read from the object store."""
    keys = {a["name"]: a["key"] for a in artifact_list(row)}
    if row.get("graph_key"):
        keys.setdefault(_GRAPH_NAME, row["graph_key"])
    key = keys.get(name)
    missing = ApiError(404, "artifact_not_found", f"name: the job has no artifact {name!r}")
    if key is None:
        raise missing
    try:
        data: bytes = await ctx.store.get_bytes(key)
    except ObjectNotFound:
        raise missing from None
    except Exception as exc:
        raise ApiError(503, "object_store_unavailable", "the object store is unavailable; retry later",
                       {"Retry-After": "5"}) from exc
    media = "application/json" if name.endswith(".json") else "application/octet-stream"
    return Response(data, media_type=media, headers={
        "Cache-Control": "private, max-age=300",
        "Content-Disposition": f'inline; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
    })
