"""Drafts of jobs: create, update (partial), list, read, delete and launch (through the create path)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.gateway.api_models import Draft, DraftList
from services.gateway.auth import Ctx, CurrentUser
from services.gateway.context import GatewayContext
from services.gateway.demo import WritesAllowed
from services.gateway.drafts import DraftLimit, DraftsStore, draft_dict, merge_draft, parse_draft
from services.gateway.errors import ApiError, error_responses
from services.gateway.ownership import owned_or_404
from services.gateway.paging import Paging
from services.gateway.responses import created, no_content
from services.gateway.routes.jobs import creates_a_job, submit_job
from services.gateway.spec_input import runnable_spec

router = APIRouter(prefix="/api/jobs/draft", tags=["drafts"])

DRAFT_BODY_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": "Any subset of the job spec's fields; in a PATCH, `null` removes a field",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DraftSpec"}}},
    }
}


def _store(ctx: GatewayContext) -> DraftsStore:
    return DraftsStore(ctx.pool, ctx.jobs.g)


async def _load(ctx: GatewayContext, owner_id: str, draft_id: str) -> Any:
    """The caller's draft, or 404 — the same answer for a missing draft and another user's."""
    return await owned_or_404("draft", draft_id, lambda i: _store(ctx).get(owner_id, i))


@router.post(
    "",
    summary="Start a draft",
    openapi_extra=DRAFT_BODY_OPENAPI,
    **created(Draft, 400, 401, 403, 409, 413, 422),
    dependencies=[WritesAllowed],
)
async def create_draft(request: Request, ctx: Ctx, user: CurrentUser) -> JSONResponse:
    """Save a partial job spec. Each field given is checked with the spec's own type and bounds
    (422 `invalid_draft` naming it); completeness is checked on launch. 409 `too_many_drafts`."""
    spec = merge_draft({}, parse_draft(await request.body()), ctx.settings.tiers)
    try:
        draft = await _store(ctx).create(user.user_id, spec)
    except DraftLimit:
        raise ApiError(409, "too_many_drafts", "you have too many drafts; launch or delete some") from None
    return JSONResponse(draft, status_code=201, headers={"Location": draft["links"]["self"]})


@router.get("", summary="List my drafts", responses={200: {"model": DraftList}, **error_responses(401, 422)})
async def list_drafts(ctx: Ctx, user: CurrentUser, page: Paging) -> dict[str, Any]:
    """The caller's drafts, most recently changed first (launched ones too, with their job id)."""
    drafts, total = await _store(ctx).list(user.user_id, page)
    return page.answer("drafts", drafts, total)


@router.get(
    "/{draft_id}", summary="Read a draft", responses={200: {"model": Draft}, **error_responses(401, 404)}
)
async def get_draft(draft_id: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """One of the caller's drafts; another user's is 404."""
    return draft_dict(await _load(ctx, user.user_id, draft_id))


@router.patch(
    "/{draft_id}",
    summary="Update a draft (partial)",
    openapi_extra=DRAFT_BODY_OPENAPI,
    responses={200: {"model": Draft}, **error_responses(400, 401, 404, 409, 413, 422)},
)
async def update_draft(draft_id: str, request: Request, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Merge the fields given into the draft (JSON merge patch: `null` removes a field).

    409 `draft_launched` once it has been launched (a launched draft is the job's record).
    """
    row = await _load(ctx, user.user_id, draft_id)
    if row["launched_job_id"]:
        raise ApiError(
            409, "draft_launched", f"draft {draft_id} was launched as job {row['launched_job_id']}"
        )
    spec = merge_draft(draft_dict(row)["spec"], parse_draft(await request.body()), ctx.settings.tiers)
    updated = await _store(ctx).update(user.user_id, draft_id, spec)
    if updated is None:  # launched or deleted between the read and the write
        raise ApiError(409, "draft_launched", f"draft {draft_id} changed meanwhile; read it again")
    return updated


@router.delete("/{draft_id}", summary="Delete a draft", **no_content("Deleted", 401, 404))
async def delete_draft(draft_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    await owned_or_404("draft", draft_id, lambda i: _store(ctx).delete(user.user_id, i))
    return Response(status_code=204)


@router.post("/{draft_id}/launch", summary="Launch a draft as a job", **creates_a_job(404))
async def launch_draft(draft_id: str, ctx: Ctx, user: CurrentUser) -> JSONResponse:
    """Validate the draft exactly as `POST /api/jobs` validates a body (same codes: `invalid_spec`,
    `tier_cap_exceeded`, `llm_unavailable` ...) and create the job. Launching again answers with the
    same job: the draft's id is the create's idempotency key."""
    row = await _load(ctx, user.user_id, draft_id)
    spec = runnable_spec(msgspec.json.encode(draft_dict(row)["spec"]), ctx.settings)
    response = await submit_job(ctx, user, spec, idempotency_key=f"draft:{draft_id}")
    job_id = response.headers["Location"].rsplit("/", 1)[-1]
    await _store(ctx).mark_launched(user.user_id, draft_id, job_id)
    return response
