"""Demo mode: a read-only public showcase (no registration, no job creation) and its demo jobs."""

from __future__ import annotations

from fastapi import Depends

from services.gateway.auth import Ctx
from services.gateway.errors import ApiError
from services.gateway.ownership import RESOURCE_ID

DEMO_TOKEN_MARK = "demo_"


def refuse_in_demo_mode(ctx: Ctx) -> None:
    """Dependency for every route that registers a user or creates a job: 403 `demo_mode` in a showcase."""
    if ctx.settings.demo_mode:
        raise ApiError(
            403,
            "demo_mode",
            "this server is a read-only demo: registration and job creation are switched off",
        )


WritesAllowed = Depends(refuse_in_demo_mode)


def demo_job_ids(spec: str) -> list[str]:
    """The job ids of the `demo_jobs` setting, in order, malformed entries left out."""
    return [j for j in (p.strip() for p in spec.split(",")) if RESOURCE_ID.match(j)]


def demo_token(job_id: str) -> str:
    """The public token of a demo job: demo jobs are public on purpose, so it need not be secret."""
    return DEMO_TOKEN_MARK + job_id
