"""What the web app needs beyond the JSON API: stream tickets for EventSource, artifacts same-origin.

* A browser's `EventSource` cannot send `Authorization`, so the app asks (with its bearer token) for a
  **stream ticket**: a random token valid for 60 s that opens the SSE stream of one job of its owner,
  and nothing else. It is stored like a session (SHA-256 only, expiry, revoked with every session and
  key by a password change or an account deletion), carries its job id so it opens no other stream,
  and has its own mark (`sts_`), which the bearer check refuses, so it never works as a session.
  Reusable within its minute so EventSource's own reconnect works; the app fetches a new one after.
* `GET /api/jobs/{id}/artifacts/{name}` sends one artifact through the gateway: the presigned URLs of
  `sim-data` point at the object store, another origin, which a page cannot read without CORS there.
  A share link reads the same through `GET /api/share/{token}/artifacts/{name}` and `.../report`.
* `GET /share/{token}` is the app's page for a share link with the job's OpenGraph tags in its head,
  so a link pasted in a chat previews with the question and the key insight.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from services.gateway.accounts import Principal
from services.gateway.auth import Ctx, CurrentUser, _bearer, current_user
from services.gateway.errors import ApiError
from services.gateway.responses import MARKDOWN_REPORT, STORED_FILE, created, sends
from services.gateway.results import job_result, read_object
from services.gateway.routes.jobs import load_job
from services.gateway.routes.share import _public_row, og_summary
from services.gateway.shaping import artifact_list
from services.gateway.webapp import WebAppFallback, og_tags

router = APIRouter(tags=["web app"])
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
    "/api/jobs/{job_id}/stream-ticket",
    summary="A 60-second ticket for this job's SSE stream (for EventSource)",
    **created(StreamTicket, 401, 404),
)
async def stream_ticket(job_id: str, ctx: Ctx, user: CurrentUser) -> StreamTicket:
    """A ticket that opens `GET /api/jobs/{job_id}/stream?ticket=...` for 60 s; it grants nothing else."""
    await load_job(ctx, user, job_id)  # 404 for a job that is not the caller's
    ticket = _ticket_prefix(job_id) + secrets.token_urlsafe(24)
    await ctx.accounts.create_session(user.user_id, TICKET_TTL, token=ticket)
    return StreamTicket(ticket=ticket, expires_in=int(TICKET_TTL.total_seconds()))


async def stream_user(
    job_id: str,
    ctx: Ctx,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[
        str | None,
        Query(
            max_length=200, description="A stream ticket (POST .../stream-ticket) where no header can be sent"
        ),
    ] = None,
) -> Principal:
    """The caller of a stream: the bearer token as everywhere, or else a ticket for this very job."""
    if creds is not None and creds.credentials:
        return await current_user(ctx, creds)
    if not ticket:
        raise ApiError(
            401,
            "missing_credentials",
            "an API key or a stream ticket is required: Authorization: Bearer <key> or ?ticket=",
            _CHALLENGE,
        )
    principal = None
    if ticket.startswith(_ticket_prefix(job_id)):
        principal = await ctx.accounts.principal_for(ticket)
    if principal is None:
        raise ApiError(
            401, "invalid_credentials", "the stream ticket is invalid, expired or for another job", _CHALLENGE
        )
    return principal


StreamUser = Annotated[Principal, Depends(stream_user)]


@router.get(
    "/api/jobs/{job_id}/artifacts/{name}",
    summary="One artifact of the job (engine output or graph.json), through the gateway",
    **sends(STORED_FILE, 401, 404, 503),
)
async def artifact(job_id: str, name: str, ctx: Ctx, user: CurrentUser) -> Response:
    """The stored bytes of one artifact named in the job (404 `artifact_not_found` otherwise)."""
    row = await load_job(ctx, user, job_id)
    return await send_artifact(ctx, row, name)


@router.get(
    "/api/share/{token}/artifacts/{name}",
    summary="One artifact of a shared job (public)",
    **sends(STORED_FILE, 404, 429, 503),
)
async def shared_artifact(token: str, name: str, ctx: Ctx, request: Request) -> Response:
    """As `GET /api/jobs/{id}/artifacts/{name}`, for anyone with the share link."""
    return await send_artifact(ctx, await _public_row(ctx, request, token), name)


@router.get(
    "/api/share/{token}/report",
    summary="A shared job's report (public, markdown)",
    **sends(MARKDOWN_REPORT, 404, 429, 503),
)
async def shared_report(token: str, ctx: Ctx, request: Request) -> Response:
    """The markdown report of a shared job."""
    row = await _public_row(ctx, request, token)
    return await send_artifact(ctx, row, "report.md", key=row.get("report_key"))


@router.get("/share/{token}", include_in_schema=False)
async def share_page(token: str, ctx: Ctx, request: Request) -> Response:
    """The app's page for a share link, with the job's OpenGraph tags (a revoked link: the plain page,
    which then says the link is gone)."""
    fallback: WebAppFallback = request.app.router.default
    page = fallback.response_for(request.url.path)
    try:
        row = await _public_row(ctx, request, token)
    except ApiError:
        return page
    if not isinstance(page, HTMLResponse) and fallback.index is not None:
        title, description = og_summary(row, await job_result(ctx.store, row))
        url = f"{ctx.settings.api_url.rstrip('/')}/share/{token}"
        html = fallback.index.read_text("utf-8").replace(
            "</head>", og_tags(title, description, url) + "</head>", 1
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
    return page


async def send_artifact(ctx: Any, row: dict[str, Any], name: str, key: str | None = None) -> Response:
    """The artifact `name` of the job `row` (or the object `key`), read from the object store."""
    if key is None:
        keys = {a["name"]: a["key"] for a in artifact_list(row)}
        if row.get("graph_key"):
            keys.setdefault(_GRAPH_NAME, row["graph_key"])
        key = keys.get(name)
    missing = ApiError(404, "artifact_not_found", f"name: the job has no artifact {name!r}")
    data = await read_object(ctx.store, key, missing)
    media = {".json": "application/json", ".md": "text/markdown; charset=utf-8"}.get(
        name[name.rfind(".") :], "application/octet-stream"
    )
    return Response(
        data,
        media_type=media,
        headers={
            "Cache-Control": "private, max-age=300",
            "Content-Disposition": f'inline; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
