"""Seed helpers: `POST /api/fetch` (a web page as seed text) and `POST /api/ai/generate-goal`."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from contracts.spec import SEED_MAX_CHARS
from contracts.text import LINE_PATTERN, TEXT_PATTERN
from services.gateway.api_models import FetchResult, GoalResult
from services.gateway.auth import Ctx, CurrentUser, rate_limit
from services.gateway.errors import ApiError, error_responses
from services.gateway.fetcher import MAX_URL_CHARS, Fetcher
from services.gateway.goal import GoalError, generate_goal
from services.gateway.pagetext import page_text
from services.gateway.ratelimit import client_address
from services.gateway.text_fields import LineCheck, TextCheck

log = logging.getLogger(__name__)
router = APIRouter(tags=["helpers"])
CATEGORY_MAX_CHARS = 100

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        json_schema_extra={"pattern": LINE_PATTERN},
        description="An http(s) URL of a public page",
    ),
    LineCheck,
]
SeedText = Annotated[
    str,
    Field(min_length=1, max_length=SEED_MAX_CHARS, json_schema_extra={"pattern": TEXT_PATTERN}),
    TextCheck,
]
Category = Annotated[
    str,
    Field(min_length=1, max_length=CATEGORY_MAX_CHARS, json_schema_extra={"pattern": LINE_PATTERN}),
    LineCheck,
]


class FetchRequest(BaseModel):
    url: Url


class GoalRequest(BaseModel):
    seed_text: SeedText
    category: Category = "general"


_DEFAULT_FETCHER = Fetcher()


def _fetcher(ctx: Ctx) -> Fetcher:
    # Tests put a Fetcher with their own resolver/check in ctx.extra; no setting can.
    fetcher = ctx.extra.get("fetcher")
    return fetcher if isinstance(fetcher, Fetcher) else _DEFAULT_FETCHER


@router.post(
    "/api/fetch",
    summary="Fetch a public web page as seed text",
    responses={200: {"model": FetchResult}, **error_responses(401, 422, 429, 502, 504)},
)
async def fetch_page(body: FetchRequest, request: Request, ctx: Ctx, user: CurrentUser) -> FetchResult:
    """The text of the page at `url`, for a job's `seed_text`.

    Only public addresses are fetched (every resolved address and every redirect hop is checked,
    and the connection goes to the checked address): 422 `url_not_public`. 422 `invalid_url`
    (not http/https, credentials, bad host), `fetch_too_large` (over 5 MiB), `unsupported_content_type`
    (not HTML or text); 502 `fetch_failed` / `too_many_redirects`; 504 `fetch_timeout`; 429
    `rate_limited` past `fetch_user` per user or `fetch_ip` per client address.
    """
    await rate_limit(ctx, "fetch_ip", client_address(request))
    await rate_limit(ctx, "fetch_user", user.user_id)
    page = await _fetcher(ctx).fetch(body.url)  # FetchError: an ApiError, answered as it is
    text, title, truncated = page_text(page)
    if not text:
        raise ApiError(422, "empty_page", f"url: {page.url} has no readable text")
    return FetchResult(text=text, char_count=len(text), source_url=page.url, title=title, truncated=truncated)


@router.post(
    "/api/ai/generate-goal",
    summary="Propose a prediction question for a seed",
    responses={200: {"model": GoalResult}, **error_responses(401, 422, 429, 502, 503)},
)
async def ai_generate_goal(body: GoalRequest, ctx: Ctx, user: CurrentUser) -> GoalResult:
    """One yes/no question with a horizon, written by the platform's model from the seed.

    503 `llm_not_configured` when the gateway has no model server (`SIMSWARM_LLM_URL`); 502
    `llm_failed` when it does not answer, `llm_bad_reply` when its answer is not a usable question.
    Counted against `jobs_user` (each call costs a model request).
    """
    if not ctx.settings.llm_url:
        raise ApiError(
            503,
            "llm_not_configured",
            "no model server is configured (SIMSWARM_LLM_URL); write the question yourself",
        )
    if not body.seed_text.strip():
        raise ApiError(422, "invalid_request", "seed_text: must not be blank")
    await rate_limit(ctx, "jobs_user", user.user_id)
    try:
        goal = await generate_goal(
            ctx.settings.llm_url, ctx.settings.llm_model, body.seed_text, body.category
        )
    except GoalError as exc:
        log.warning("generate-goal failed: %s", exc.detail)
        raise ApiError(502, exc.code, exc.detail) from None
    return GoalResult(goal=goal)
