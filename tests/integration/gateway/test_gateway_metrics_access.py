"""/metrics is for operators (issue: infrastructure without credentials): on the gateway's real public
port, neither an anonymous client nor an ordinary user's API key reads it; the metrics token does."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import REGISTRY

from services.gateway.accounts import ensure_local_user
from services.gateway.main import serve
from simswarm.stack import _wait_http, free_port

pytestmark = pytest.mark.integration


def _count_401(_token: str) -> float:
    """Refused /metrics requests counted so far in this process (the families are process-wide)."""
    labels = {"service": "gateway", "method": "GET", "route": "/metrics", "status": "401"}
    return REGISTRY.get_sample_value("simswarm_http_request_duration_seconds_count", labels) or 0.0


async def test_metrics_need_the_operator_token_on_the_public_port(settings, pg_pool):
    settings.gateway_port = free_port()
    assert settings.metrics_token  # made per home (0600) when not set
    base = f"http://127.0.0.1:{settings.gateway_port}"
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        await asyncio.to_thread(_wait_http, f"{base}/api/health", 30, None, "the gateway", settings.home)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            _, user_key = await ensure_local_user(pg_pool)
            assert (
                await client.get("/api/jobs", headers={"Authorization": f"Bearer {user_key}"})
            ).status_code == 200

            before = _count_401(settings.metrics_token)
            anonymous = await client.get("/metrics")
            assert anonymous.status_code == 401 and anonymous.json()["code"] == "metrics_unauthorized"
            assert "simswarm_gateway" not in anonymous.text
            as_user = await client.get("/metrics", headers={"Authorization": f"Bearer {user_key}"})
            assert as_user.status_code == 401 and "simswarm_gateway" not in as_user.text
            wrong = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {settings.metrics_token}x"}
            )
            assert wrong.status_code == 401

            operator = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {settings.metrics_token}"}
            )
            assert operator.status_code == 200, operator.text
            assert "simswarm_http_request_duration_seconds_bucket" in operator.text
            assert _count_401(settings.metrics_token) - before == 3  # each refusal was counted
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_metrics_without_a_configured_token_are_closed(gw):
    gw.app.state.ctx.settings.metrics_token = ""
    r = await gw.client.get("/metrics", headers=gw.as_alice)
    assert r.status_code == 403 and r.json()["code"] == "metrics_disabled"
