"""Liveness, readiness (NATS, Postgres, object store, the orchestrator's pipeline) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, PlainTextResponse

from contracts.commands import HealthQuery, HealthReply
from contracts.subjects import CMD_ORCHESTRATOR_HEALTH
from services.gateway.api_models import Readiness
from services.gateway.auth import Ctx
from services.gateway.context import GatewayContext
from services.gateway.errors import ApiError, error_responses

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 3.0
ORCHESTRATOR_TIMEOUT_S = 2.5  # a frozen orchestrator never answers; within the readiness budget


@router.get("/api/health", summary="Liveness", responses={200: {"description": "The process is up"}})
async def health() -> dict[str, str]:
    """200 while the process answers; says nothing about its dependencies (see /api/ready)."""
    return {"status": "ok"}


async def _check(name: str, probe: Awaitable[Any]) -> tuple[str, str]:
    try:
        ok = await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:
        log.warning("readiness: %s failed: %s", name, exc)
        return name, "unavailable"
    return name, "ok" if ok is not False else "unavailable"


async def _orchestrator(ctx: GatewayContext) -> tuple[str, list[str]]:
    """The orchestrator's own verdict on its pipeline: "ok", "unhealthy" (with why) or "unavailable"."""
    try:
        reply = await ctx.bus.request(
            CMD_ORCHESTRATOR_HEALTH, HealthQuery(), HealthReply, timeout=ORCHESTRATOR_TIMEOUT_S
        )
    except Exception as exc:  # no responder, a timeout (a frozen process), NATS away
        log.warning("readiness: orchestrator did not answer: %s", exc)
        return "unavailable", []
    if not reply.ok:
        log.warning("readiness: orchestrator unhealthy: %s", "; ".join(reply.problems))
        return "unhealthy", reply.problems
    return "ok", []


@router.get(
    "/api/ready",
    summary="Readiness",
    responses={
        200: {
            "model": Readiness,
            "description": "NATS, Postgres, the object store and the orchestrator answer",
        },
        503: {
            "description": "Some part is unavailable or unhealthy: `detail` names it, `checks` has each part",
            "content": {
                "application/json": {
                    "example": {
                        "detail": "not ready: orchestrator unavailable",
                        "code": "not_ready",
                        "checks": {
                            "nats": "ok",
                            "postgres": "ok",
                            "object_store": "ok",
                            "orchestrator": "unavailable",
                        },
                    }
                }
            },
        },
    },
)
async def ready(ctx: Ctx) -> JSONResponse:
    """200 when every dependency answers and the orchestrator's pipeline is alive, else 503 naming the
    parts that are not (the orchestrator answers a health query from the loop that does its work)."""
    *checks, (orchestrator, problems) = await asyncio.gather(
        _check("nats", ctx.bus.ping()),
        _check("postgres", ctx.pool.fetchval("SELECT 1")),
        _check("object_store", ctx.store.ping()),
        _orchestrator(ctx),
    )
    results = {**dict(checks), "orchestrator": orchestrator}
    failed = [f"{name} {state}" for name, state in results.items() if state != "ok"]
    if failed:
        why = f" ({'; '.join(problems)})" if problems else ""
        body = {"detail": f"not ready: {', '.join(failed)}{why}", "code": "not_ready", "checks": results}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "checks": results})


@router.get(
    "/metrics",
    summary="Prometheus metrics (operators only)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401, 403)},
    include_in_schema=True,
)
async def metrics(
    ctx: Ctx, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> PlainTextResponse:
    """Request counts and latencies by route, open SSE streams, jobs created.

    Only for operators: the bearer token is the metrics token (`SIMSWARM_METRICS_TOKEN`, or the one
    generated in `$SIMSWARM_HOME/metrics-token`), never a user's API key or session.
    """
    check_metrics_token(ctx.settings.metrics_token, authorization)
    return PlainTextResponse(ctx.metrics.render(), media_type="text/plain; version=0.0.4")


def check_metrics_token(expected: str, authorization: str | None) -> None:
    """Raise 401 unless `authorization` is `Bearer <expected>`; 403 when no token is configured."""
    if not expected:
        raise ApiError(
            403, "metrics_disabled", "metrics are disabled: set SIMSWARM_METRICS_TOKEN to read them"
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ApiError(
            401,
            "metrics_unauthorized",
            "metrics need the operator's metrics token as a bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
