"""The gateway against the real orchestrator service: create, read back, cancel, timeline from the log."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

pytestmark = pytest.mark.integration

orchestrator_main = pytest.importorskip("services.orchestrator.main")


async def _eventually(check, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_create_read_cancel_through_the_orchestrator(settings, gateway_factory, orchestrator_options):
    opts = orchestrator_options(relay_poll_s=0.1, projection_poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(orchestrator_main.serve(settings, stop, opts))
    try:
        async for gw in gateway_factory(opts.projections_schema):
            ctx = gw.app.state.ctx
            ctx.command_timeout_s = 15.0
            spec = {
                "seed_text": "Parliament votes on the bill.",
                "goal": "Will the bill pass?",
                "policy": "heuristic",
            }

            async def create(gw=gw, spec=spec):
                if task.done():
                    task.result()  # surface the orchestrator's own failure
                r = await gw.client.post("/api/jobs", json=spec, headers=gw.as_alice)
                return r if r.status_code != 503 else None

            r = await _eventually(create)
            assert r is not None and r.status_code == 201, r and r.text
            job_id = r.json()["job_id"]
            got = await gw.client.get(f"/api/jobs/{job_id}", headers=gw.as_alice)
            assert got.status_code == 200 and got.json()["goal"] == spec["goal"]
            assert (await gw.client.get(f"/api/jobs/{job_id}", headers=gw.as_bob)).status_code == 404

            r = await gw.client.post(f"/api/jobs/{job_id}/cancel", headers=gw.as_alice)
            assert r.status_code == 202, r.text

            async def timeline(gw=gw, job_id=job_id):
                ev = await gw.client.get(f"/api/jobs/{job_id}/events", headers=gw.as_alice)
                types = [e["type"] for e in ev.json()["events"]]
                return types if "JobCancellationRequested" in types else None

            types = await _eventually(timeline)
            assert types and types[0] == "JobCreated"
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)
