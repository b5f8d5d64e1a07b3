"""Jobs: create, list, read, cancel, delete — commands to the orchestrator, reads from the projection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Header, Query, Request, Response, params
from fastapi.responses import JSONResponse

from contracts.commands import CancelJob, CreateJob
from contracts.events import JobCreated
from contracts.spec import TERMINAL_STATUSES, JobSpec, JobStatus
from services.gateway import commands
from services.gateway.accounts import Principal
from services.gateway.api_models import Job, JobList
from services.gateway.auth import Ctx, CurrentUser, JobCreationLimit
from services.gateway.context import GatewayContext
from services.gateway.demo import WritesAllowed
from services.gateway.errors import ApiError, error_responses, event_log_unavailable
from services.gateway.jobs_store import AlreadyRequested, DuplicateJob, QuotaExceeded
from services.gateway.ownership import owned_or_404
from services.gateway.paging import Paging
from services.gateway.responses import Answers, accepted, created, no_content
from services.gateway.results import job_result
from services.gateway.shaping import shape_job
from services.gateway.spec_input import runnable_spec, spec_fingerprint

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

DUPLICATE_WINDOW_S = 60.0
QUOTA_RETRY_AFTER_S = 30
IDEMPOTENCY_NS = uuid.UUID("5b0f3c1e-8a7d-4f6e-9c2b-1d3e5f7a9b0c")
_TERMINAL = {s.value for s in TERMINAL_STATUSES}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retry-safe creation: the same key (and body) gives the same job, never a second one",
    ),
]
JOB_CREATION_ERRORS = (401, 403, 409, 422, 429, 502, 503)
"""What every route that creates a job may answer: credentials, its guards (403, 429), `submit_job`
(409 a duplicate, 429 the live-job quota, 422 an invalid spec, 502/503 the orchestrator's reply)."""

JOB_BODY_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobSpec"}}},
    }
}


class JobCreation(Answers, total=False):
    """`Answers` and the guards that run before the handler (their refusals are among the answers)."""

    dependencies: Sequence[params.Depends]


def creates_a_job(*errors: int) -> JobCreation:
    """The declaration every route that creates a job shares: 201 with the Job, guarded first by 403
    in demo mode and the `jobs_user` limit, answering JOB_CREATION_ERRORS and the route's own `errors`."""
    return {**created(Job, *JOB_CREATION_ERRORS, *errors), "dependencies": [WritesAllowed, JobCreationLimit]}


async def load_job(ctx: GatewayContext, user: Principal, job_id: str) -> dict[str, Any]:
    """The caller's job, or 404 `job_not_found` — the same answer for a missing job and another user's."""
    return await owned_or_404("job", job_id, lambda i: ctx.jobs.get_owned(i, user.user_id))


@router.post("", summary="Create a job", openapi_extra=JOB_BODY_OPENAPI, **creates_a_job(400, 413))
async def create_job(
    request: Request, ctx: Ctx, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Validate the spec, guard duplicates and the quota, then ask the orchestrator to create it."""
    spec = runnable_spec(await request.body(), ctx.settings)
    return await submit_job(ctx, user, spec, idempotency_key=idempotency_key)


async def submit_job(
    ctx: GatewayContext,
    user: Principal,
    spec: JobSpec,
    *,
    idempotency_key: str | None = None,
    retry_of: str | None = None,
) -> JSONResponse:
    """Ask the orchestrator to create a validated spec: the one path of a create, a draft's launch and a retry.

    Guards duplicates (409), the live-job quota (429) and retried requests (Idempotency-Key).
    """
    fingerprint = spec_fingerprint(spec)
    # No dots in job ids: they are part of NATS subjects.
    job_id = (
        uuid.uuid5(IDEMPOTENCY_NS, f"{user.user_id}:{idempotency_key}").hex
        if idempotency_key
        else uuid.uuid4().hex
    )
    if idempotency_key and (earlier := await _replay(ctx, user, job_id, fingerprint)) is not None:
        return earlier
    quota = ctx.settings.max_live_jobs_per_user
    try:
        await ctx.jobs.reserve(user.user_id, job_id, fingerprint, window_s=DUPLICATE_WINDOW_S, quota=quota)
    except AlreadyRequested:
        # A concurrent retry with the same Idempotency-Key reserved it first: answer with its job.
        if (earlier := await _replay(ctx, user, job_id, fingerprint)) is not None:
            return earlier
        # Still no answer (its request may have died with its gateway). CreateJob is idempotent on
        # the job id, so asking the orchestrator again cannot make a second job.
    except DuplicateJob as dup:
        raise ApiError(
            409,
            "duplicate_job",
            f"an identical job ({dup.job_id}) was submitted {dup.age_s:.0f} s ago and is still live; "
            "follow that one, or change the request",
        ) from None
    except QuotaExceeded as q:
        raise ApiError(
            429,
            "quota_exceeded",
            f"you have {q.live} live jobs; the limit is {q.quota}. Wait for one to finish or cancel one",
            {"Retry-After": str(QUOTA_RETRY_AFTER_S)},
        ) from None
    cmd = CreateJob(job_id=job_id, owner_id=user.user_id, spec=spec, retry_of=retry_of)
    try:
        reply = await commands.create_job(ctx.bus, cmd, ctx.command_timeout_s)
    except ApiError:
        await ctx.jobs.release(job_id)
        raise
    ctx.metrics.jobs_created += 1
    row = reply.job or await ctx.jobs.get_owned(job_id, user.user_id) or {"job_id": job_id}
    return JSONResponse(shape_job(row), status_code=201, headers={"Location": f"/api/jobs/{job_id}"})


async def _replay(ctx: GatewayContext, user: Principal, job_id: str, fingerprint: str) -> JSONResponse | None:
    """The answer to a retry with an Idempotency-Key already used: the same job again, or a 409.

    None when there is no answer to repeat: the key was never used, its request was released (the
    orchestrator refused it or did not answer), or it is still unanswered after the wait. While the
    first request waits for the orchestrator, a retry waits with it (up to the command timeout), so
    concurrent retries answer with the one job.
    """
    deadline = asyncio.get_running_loop().time() + ctx.command_timeout_s + 1.0
    while True:
        earlier = await ctx.jobs.request_fingerprint(job_id, user.user_id)
        if earlier is None:
            return None
        if earlier != fingerprint:
            raise ApiError(
                409, "idempotency_conflict", "Idempotency-Key: was already used with a different body"
            )
        if await ctx.jobs.is_deleted(job_id, user.user_id):
            raise ApiError(
                409,
                "idempotency_key_used",
                f"Idempotency-Key: was used for job {job_id}, which has since been deleted; "
                "send a new key to create another job",
            )
        # None here is a moment between the request's release and the projection's row: look again.
        row = await ctx.jobs.get_owned(job_id, user.user_id)
        if row is not None and not row.get("pending"):
            return JSONResponse(shape_job(row), status_code=201, headers={"Location": f"/api/jobs/{job_id}"})
        if asyncio.get_running_loop().time() > deadline:
            return None
        await asyncio.sleep(0.1)


@router.get("", summary="List my jobs", responses={200: {"model": JobList}, **error_responses(401, 422)})
async def list_jobs(
    ctx: Ctx,
    user: CurrentUser,
    page: Paging,
    status: Annotated[JobStatus | None, Query(description="only jobs in this status")] = None,
) -> dict[str, Any]:
    """The caller's jobs, newest first, a page at a time; deleted jobs are left out."""
    rows, total = await ctx.jobs.list_owned(user.user_id, status=status.value if status else None, page=page)
    return page.answer("jobs", [shape_job(r) for r in rows], total)


@router.get("/{job_id}", summary="Read a job", responses={200: {"model": Job}, **error_responses(401, 404)})
async def get_job(job_id: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Status, stage, progress, timings, pod summary, markets, prices, verdict, error, artifacts, and
    once complete `result`: verdict, key insight, findings with citations, stakeholders' final
    positions and the run's scale (null before, and for runs older than result.json)."""
    row = await load_job(ctx, user, job_id)
    return {**shape_job(row), "result": await job_result(ctx.store, row)}


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a job",
    **accepted(Job, 401, 404, 409, 502, 503),
)
async def cancel_job(job_id: str, ctx: Ctx, user: CurrentUser) -> JSONResponse:
    """Ask the orchestrator to cancel; the pod is torn down. 409 when the job already finished."""
    row = await load_job(ctx, user, job_id)
    if row.get("status") in _TERMINAL:
        raise ApiError(409, "job_finished", f"job {job_id} is already {row['status']}")
    reply = await commands.cancel_job(
        ctx.bus,
        CancelJob(job_id=job_id, requested_by=user.user_id),
        ctx.command_timeout_s,
    )
    if reply.code == "already_finished":  # it finished between our read and the command
        raise ApiError(
            409, "job_finished", f"job {job_id} is already {(reply.job or {}).get('status', 'finished')}"
        )
    shaped = shape_job(reply.job or {**row, "status": "cancelling", "stage": "cancelling"})
    return JSONResponse(shaped, status_code=202)


@router.delete(
    "/{job_id}",
    summary="Delete a job",
    **no_content("Deleted", 401, 404, 502, 503),
)
async def delete_job(job_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """Cancel first if live (so no pod keeps billing), then hide the job from its owner."""
    row = await load_job(ctx, user, job_id)
    if row.get("status") not in _TERMINAL:
        await commands.cancel_before_removal(
            ctx.bus, job_id, user.user_id, "deleted by user", ctx.command_timeout_s
        )
    await ctx.jobs.mark_deleted(job_id, user.user_id)
    return Response(status_code=204)


_RETRYABLE = {JobStatus.FAILED.value, JobStatus.CANCELLED.value}


@router.post("/{job_id}/retry", summary="Retry a failed or cancelled job", **creates_a_job(404))
async def retry_job(
    job_id: str, ctx: Ctx, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """A new job with the same spec, linked by `retry_of`. 409 `not_retryable` unless the job failed or
    was cancelled. The spec is read from the job's JobCreated event and validated again, so a retry
    is refused (422) when the operator has since tightened the tier's caps."""
    row = await load_job(ctx, user, job_id)
    if row.get("status") not in _RETRYABLE:
        raise ApiError(
            409,
            "not_retryable",
            f"job {job_id} is {row.get('status')}; only a failed or cancelled job can be retried",
        )
    try:
        created = await ctx.bus.last_event(job_id, "JobCreated")
    except Exception as exc:  # BusUnavailable, nats errors: the log cannot be read now
        raise event_log_unavailable(exc) from exc
    if not isinstance(created, JobCreated):
        raise ApiError(409, "not_retryable", f"job {job_id} has no recorded spec to retry")
    spec = runnable_spec(msgspec.json.encode(created.spec), ctx.settings)
    key = f"retry:{job_id}:{idempotency_key}" if idempotency_key else None
    return await submit_job(ctx, user, spec, idempotency_key=key, retry_of=job_id)
