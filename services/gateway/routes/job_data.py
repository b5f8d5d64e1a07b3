"""A job's timeline (from the event log), its simulation data (presigned GETs) and its report."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.gateway.api_models import SimData, Timeline
from services.gateway.auth import Ctx, CurrentUser
from services.gateway.errors import error_responses, event_log_unavailable, object_store_unavailable
from services.gateway.responses import MARKDOWN_REPORT, sends
from services.gateway.results import read_object, report_not_ready
from services.gateway.resume import SEQ_MAX, resume_point
from services.gateway.routes.jobs import load_job
from services.gateway.shaping import artifact_list, shape_event

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get(
    "/{job_id}/events",
    summary="The job's event timeline",
    responses={200: {"model": Timeline}, **error_responses(401, 404, 422, 503)},
)
async def job_events(
    job_id: str,
    ctx: Ctx,
    user: CurrentUser,
    after_seq: Annotated[
        int, Query(ge=0, le=SEQ_MAX, description="only events after this stream sequence")
    ] = 0,
) -> dict[str, Any]:
    """Every event of the job in order, read from JetStream: `{seq, type, occurred_at, data}`."""
    await load_job(ctx, user, job_id)
    await resume_point(ctx.bus, after_seq)
    try:
        events = await asyncio.wait_for(ctx.bus.job_events(job_id, after_seq=after_seq), timeout=30)
    except Exception as exc:  # BusUnavailable, nats errors, a timeout: the log cannot be read now
        raise event_log_unavailable(exc) from exc
    return {"job_id": job_id, "events": [shape_event(seq, ev) for seq, ev in events]}


@router.get(
    "/{job_id}/sim-data",
    summary="Download links for the simulation data",
    responses={200: {"model": SimData}, **error_responses(401, 404, 503)},
)
async def sim_data(job_id: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Each artifact with its size, SHA-256 and a presigned GET URL valid for a short while."""
    row = await load_job(ctx, user, job_id)
    expires = ctx.presign_expires_s
    files = []
    try:
        for ref in artifact_list(row):
            url = await ctx.store.presign_get(ref["key"], expires=expires)
            files.append(
                {
                    "name": ref["name"],
                    "size": ref.get("size"),
                    "sha256": ref.get("sha256"),
                    "content_type": ref.get("content_type", "application/json"),
                    "url": url,
                }
            )
    except Exception as exc:
        raise object_store_unavailable(exc) from exc
    return {"job_id": job_id, "expires_in": expires, "files": files}


@router.get(
    "/{job_id}/report", summary="The analysis report (markdown)", **sends(MARKDOWN_REPORT, 401, 404, 503)
)
async def report(job_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """The report's markdown; 404 `report_not_ready` until the reporter has written it."""
    row = await load_job(ctx, user, job_id)
    data = await read_object(ctx.store, row.get("report_key"), report_not_ready(job_id))
    return Response(data, media_type="text/markdown; charset=utf-8")
