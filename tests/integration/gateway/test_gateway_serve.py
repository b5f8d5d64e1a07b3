"""`services.gateway.main.serve`: uvicorn on the configured port, its own connections, a clean stop."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from services.gateway.accounts import ensure_local_user
from services.gateway.main import serve

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_answers_until_stopped(settings, pg_pool):
    settings.gateway_port = _free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    base = f"http://127.0.0.1:{settings.gateway_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            for _ in range(100):
                try:
                    if (await client.get("/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
            # Its own connections are up; with no orchestrator answering it is not ready, and says why.
            r = await client.get("/api/ready")
            assert r.status_code == 503 and "orchestrator unavailable" in r.json()["detail"], r.text
            assert r.json()["checks"] == {"nats": "ok", "postgres": "ok", "object_store": "ok",
                                          "orchestrator": "unavailable"}
            _, key = await ensure_local_user(pg_pool)  # the real `gateway` schema, as `simswarm up` does
            r = await client.get("/api/jobs", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200 and "jobs" in r.json()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            await client.get("/api/health")
