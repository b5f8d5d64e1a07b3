"""GET /api/config: what this server offers, so a client can build its forms and explain refusals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from contracts import spec as spec_limits
from contracts.spec import Policy
from services.gateway.api_models import PublicConfig
from services.gateway.auth import Ctx, rate_limit
from services.gateway.errors import error_responses
from services.gateway.ratelimit import DEFAULT_LIMITS, client_address
from services.gateway.spec_input import MAX_BODY_BYTES, llm_available

router = APIRouter(tags=["health"])


@router.get(
    "/api/config",
    summary="Public settings",
    responses={200: {"model": PublicConfig}, **error_responses(429)},
)
async def public_config(ctx: Ctx, request: Request) -> dict[str, Any]:
    """Demo mode, the tiers with their defaults and caps, the spec's limits, the rate limits, and the
    policies this server can run (heuristic always; llm only with a model server)."""
    await rate_limit(ctx, "share_ip", client_address(request))
    settings = ctx.settings
    policies = [Policy.HEURISTIC.value]
    if llm_available(settings.llm_url, settings.pod_provider):
        policies.append(Policy.LLM.value)
    tiers = {
        tier.value: {
            "agents": cfg.agents,
            "rounds": cfg.rounds,
            "max_agents": cfg.max_agents,
            "max_rounds": cfg.max_rounds,
            "max_forecast_days": cfg.max_forecast_days,
            "max_markets": cfg.max_markets,
            "default_policy": cfg.default_policy.value,
            "timeout_s": cfg.timeout_s,
        }
        for tier, cfg in settings.tiers.items()
    }
    rate_limits = {
        name: str(limit) if (limit := ctx.limiter.limit(name)) else None for name in sorted(DEFAULT_LIMITS)
    }
    return {
        "demo_mode": settings.demo_mode,
        "registration": not settings.demo_mode,
        "job_creation": not settings.demo_mode,
        "policies": policies,
        "tiers": tiers,
        "limits": {
            "seed_max_chars": spec_limits.SEED_MAX_CHARS,
            "goal_max_chars": spec_limits.GOAL_MAX_CHARS,
            "market_question_max_chars": spec_limits.MARKET_QUESTION_MAX_CHARS,
            "rationale_max_chars": spec_limits.RATIONALE_MAX_CHARS,
            "max_markets": spec_limits.MAX_MARKETS,
            "spec_max_chars": spec_limits.SPEC_MAX_CHARS,
            "max_forecast_days": spec_limits.MAX_FORECAST_DAYS,
            "job_body_max_bytes": MAX_BODY_BYTES,
            "max_live_jobs_per_user": settings.max_live_jobs_per_user,
            "rate_limits": rate_limits,
        },
        "mail": "smtp" if settings.smtp_url else "log",
    }
