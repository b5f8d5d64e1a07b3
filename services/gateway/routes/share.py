"""Sharing: the owner makes or revokes a link to a completed job; anyone with it reads the job, its
graph and an OpenGraph page. Demo jobs (the `demo_jobs` setting) are public under `demo_` tokens."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.gateway.api_models import DemoList, JobGraph, Share, SharedJob
from services.gateway.auth import Ctx, CurrentUser, rate_limit
from services.gateway.context import GatewayContext
from services.gateway.demo import DEMO_TOKEN_MARK, demo_job_ids, demo_token
from services.gateway.errors import ApiError, error_responses
from services.gateway.ratelimit import client_address
from services.gateway.responses import HTML_PAGE, PDF, created, no_content, sends
from services.gateway.results import job_result, read_graph
from services.gateway.routes.jobs import load_job
from services.gateway.routes.results import Caps, pdf_download
from services.gateway.shaping import shape_job
from services.gateway.shares import MAX_LIVE_SHARES, SharesStore, TooManyShares
from services.gateway.webapp import og_tags

router = APIRouter(tags=["share"])
OG_DESCRIPTION_CHARS = 300


def _shares(ctx: GatewayContext) -> SharesStore:
    return SharesStore(ctx.pool, ctx.jobs.g)


def _base(ctx: GatewayContext) -> str:
    return ctx.settings.api_url.rstrip("/")


@router.post("/api/jobs/{job_id}/share", summary="Share a completed job", **created(Share, 401, 404, 409))
async def share_job(job_id: str, ctx: Ctx, user: CurrentUser) -> JSONResponse:
    """A new unguessable link to the job's public, read-only view (shown this once; only its hash is
    kept). 409 `job_not_completed` before the job completed, `too_many_shares` past 20 live links.
    Earlier links stay valid until revoked."""
    row = await load_job(ctx, user, job_id)
    if row.get("status") != "completed":
        raise ApiError(
            409,
            "job_not_completed",
            f"job {job_id} is {row.get('status')}; only a completed job can be shared",
        )
    try:
        token = await _shares(ctx).create(job_id, user.user_id)
    except TooManyShares:
        raise ApiError(
            409,
            "too_many_shares",
            f"job {job_id} has {MAX_LIVE_SHARES} live share links; revoke them to make new ones",
        ) from None
    base = _base(ctx)
    return JSONResponse(
        {
            "job_id": job_id,
            "share_token": token,
            "share_url": f"{base}/share/{token}",
            "api_url": f"{base}/api/share/{token}",
            "og_url": f"{base}/api/share/{token}/og",
        },
        status_code=201,
    )


@router.delete(
    "/api/jobs/{job_id}/share",
    summary="Revoke a job's share links",
    **no_content("Every link to the job stops working", 401, 404),
)
async def unshare_job(job_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """Revoke every share link of the job at once (none is not an error)."""
    await load_job(ctx, user, job_id)
    await _shares(ctx).revoke(job_id, user.user_id)
    return Response(status_code=204)


async def _public_row(ctx: GatewayContext, request: Request, token: str) -> dict[str, Any]:
    """The completed job behind a share or demo token, or 404 `share_not_found` (revoked, deleted,
    never existed: one answer). Rate limited per client address (`share_ip`)."""
    await rate_limit(ctx, "share_ip", client_address(request))
    not_found = ApiError(404, "share_not_found", "this share link does not exist or was revoked")
    job_id: str | None = None
    if token.startswith(DEMO_TOKEN_MARK):
        wanted = token.removeprefix(DEMO_TOKEN_MARK)
        job_id = wanted if wanted in demo_job_ids(ctx.settings.demo_jobs) else None
    elif (found := await _shares(ctx).resolve(token)) is not None:
        job_id = found[0]
    row = await ctx.jobs.get_visible(job_id) if job_id else None
    if row is None or row.get("status") != "completed":
        raise not_found
    return row


def _public_job(row: dict[str, Any], token: str, result: dict[str, Any] | None) -> dict[str, Any]:
    """What a share shows: the question, the outcome and the result, nothing about its owner or costs."""
    job = shape_job(row)
    base = f"/api/share/{token}"
    return {
        "job_id": job["job_id"],
        "status": job["status"],
        "goal": job["goal"],
        "tier": job["tier"],
        "agents": job["agents"],
        "rounds": job["rounds"],
        "created_at": job["created_at"],
        "finished_at": job["finished_at"],
        "markets": job["markets"],
        "final_prices": job["final_prices"],
        "verdict": job["verdict"],
        "result": result,
        "links": {"self": base, "graph": f"{base}/graph", "og": f"{base}/og", "pdf": f"{base}/export/pdf"},
    }


@router.get(
    "/api/share/demos",
    summary="Demo jobs",
    responses={200: {"model": DemoList}, **error_responses(429)},
)
async def list_demos(ctx: Ctx, request: Request) -> dict[str, Any]:
    """The operator's showcase jobs (setting `demo_jobs`), completed ones only, each with its public token."""
    await rate_limit(ctx, "share_ip", client_address(request))
    demos = []
    for job_id in demo_job_ids(ctx.settings.demo_jobs):
        row = await ctx.jobs.get_visible(job_id)
        if row is None or row.get("status") != "completed":
            continue
        token = demo_token(job_id)
        demos.append({"share_token": token, **_public_job(row, token, await job_result(ctx.store, row))})
    return {"demos": demos}


@router.get(
    "/api/share/{token}",
    summary="A shared job (public)",
    responses={200: {"model": SharedJob}, **error_responses(404, 429)},
)
async def shared_job(token: str, ctx: Ctx, request: Request) -> dict[str, Any]:
    """The shared job's question, outcome and structured result; no credentials needed."""
    row = await _public_row(ctx, request, token)
    return _public_job(row, token, await job_result(ctx.store, row))


@router.get(
    "/api/share/{token}/graph",
    summary="A shared job's graph (public)",
    responses={200: {"model": JobGraph}, **error_responses(404, 422, 429, 503)},
)
async def shared_graph(token: str, ctx: Ctx, request: Request, caps: Caps) -> dict[str, Any]:
    """As `GET /api/jobs/{id}/graph`, for anyone with the link."""
    row = await _public_row(ctx, request, token)
    return await read_graph(ctx.store, row, caps.max_nodes, caps.max_edges)


def og_summary(row: dict[str, Any], result: dict[str, Any] | None) -> tuple[str, str]:
    """A link preview's title and description: the question, and the key insight (else the verdict)."""
    title = f"SimSwarm: {row.get('goal') or 'a swarm simulation'}"
    description = str(
        (result or {}).get("key_insight") or row.get("verdict") or "A completed swarm simulation"
    )
    if len(description) > OG_DESCRIPTION_CHARS:
        description = description[: OG_DESCRIPTION_CHARS - 1] + "…"
    return title, description


def og_page(title: str, description: str, url: str, api_path: str) -> str:
    """A minimal HTML page with OpenGraph and Twitter card tags; every value is HTML-escaped."""
    t, d, a = (html.escape(v, quote=True) for v in (title, description, api_path))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{t}</title>
<meta name="description" content="{d}">
{og_tags(title, description, url)}
</head><body>
<h1>{t}</h1>
<p>{d}</p>
<p><a href="{a}">The shared result (JSON)</a></p>
</body></html>
"""


@router.get(
    "/api/share/{token}/og",
    summary="A shared job's OpenGraph page (public)",
    **sends(HTML_PAGE, 404, 429, response_class=HTMLResponse),
)
async def shared_og(token: str, ctx: Ctx, request: Request) -> HTMLResponse:
    """What a chat or social site shows for a shared link: the question as title, the key insight
    (else the verdict) as description."""
    row = await _public_row(ctx, request, token)
    title, description = og_summary(row, await job_result(ctx.store, row))
    base = _base(ctx)
    page = og_page(title, description, f"{base}/share/{token}", f"{base}/api/share/{token}")
    return HTMLResponse(page, headers={"Cache-Control": "public, max-age=300"})


@router.get(
    "/api/share/{token}/export/pdf",
    summary="A shared job's report as a PDF (public)",
    **sends(PDF, 404, 429, 503),
)
async def shared_pdf(token: str, ctx: Ctx, request: Request) -> Response:
    """As `GET /api/jobs/{id}/export/pdf`, for anyone with the link."""
    return await pdf_download(ctx.store, await _public_row(ctx, request, token))
