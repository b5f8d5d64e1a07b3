"""A job's timeline (from the event log), its simulation data (presigned GETs) and its report."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.gateway.api_models import SimData, Timeline
from services.gateway.auth import Ctx, CurrentUser
from services.gateway.errors import ApiError, error_responses
from services.gateway.resume import SEQ_MAX, check_resume_point, stream_end
from services.gateway.routes.jobs import load_job
from services.gateway.shaping import artifact_list, shape_event
from services.kit.objectstore import ObjectNotFound

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def _bus_down(exc: BaseException) -> ApiError:
    log.warning("event log unavailable: %s", exc)
    return ApiError(
        503,
        "event_log_unavailable",
        "the event log (NATS) is unavailable; retry shortly",
        {"Retry-After": "5"},
    )


def _store_down(exc: BaseException) -> ApiError:
    log.warning("object store unavailable: %s", exc)
    return ApiError(
        503,
        "object_store_unavailable",
        "the object store is unavailable; retry shortly",
        {"Retry-After": "5"},
    )


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
    check_resume_point(
        "after_seq", after_seq, await stream_end(ctx.bus, after_seq), "after_seq_beyond_stream"
    )
    try:
        events = await asyncio.wait_for(ctx.bus.job_events(job_id, after_seq=after_seq), timeout=30)
    except Exception as exc:  # BusUnavailable, nats errors, a timeout: the log cannot be read now
        raise _bus_down(exc) from exc
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
        raise _store_down(exc) from exc
    return {"job_id": job_id, "expires_in": expires, "files": files}


@router.get(
    "/{job_id}/report",
    summary="The analysis report (markdown)",
    response_class=Response,
    responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}, "description": "The report"},
        **error_responses(401, 404, 503),
    },
)
async def report(job_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """The report's markdown; 404 `report_not_ready` until the reporter has written it."""
    row = await load_job(ctx, user, job_id)
    key = row.get("report_key")
    not_ready = ApiError(404, "report_not_ready", f"the report of job {job_id} is not written yet")
    if not key:
        raise not_ready
    try:
        data: bytes = await ctx.store.get_bytes(key)
    except ObjectNotFound:
        raise not_ready from None
    except Exception as exc:
        raise _store_down(exc) from exc
    return Response(data, media_type="text/markdown; charset=utf-8")
