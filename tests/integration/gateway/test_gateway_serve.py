"""`services.gateway.main.serve`: uvicorn on the configured port, its own connections, a clean stop."""

from __future__ import annotations

import httpx
import pytest

from services.gateway.accounts import ensure_local_user
from tests.integration.gateway.conftest import served_gateway

pytestmark = pytest.mark.integration


async def test_serve_answers_until_stopped(settings, pg_pool):
    async with served_gateway(settings) as base, httpx.AsyncClient(base_url=base, timeout=5) as client:
        # Its own connections are up; with no orchestrator answering it is not ready, and says why.
        r = await client.get("/api/ready")
        assert r.status_code == 503 and "orchestrator unavailable" in r.json()["detail"], r.text
        assert r.json()["checks"] == {
            "nats": "ok",
            "postgres": "ok",
            "object_store": "ok",
            "orchestrator": "unavailable",
        }
        _, key = await ensure_local_user(pg_pool)  # the real `gateway` schema, as `simswarm up` does
        r = await client.get("/api/jobs", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and "jobs" in r.json()
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            await client.get("/api/health")
