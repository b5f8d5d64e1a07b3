"""Streams cannot exhaust JetStream: each SSE stream or timeline read holds a consumer only while the
request lasts, and open streams are capped per user (429 `too_many_streams`) and in total
(503 `streams_full`). The gateway is served by uvicorn on loopback so that clients really open and
drop TCP connections, as browsers do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from contracts.events import JobCompleted, JobCreated, new_event
from contracts.spec import JobSpec, resolve_run
from contracts.subjects import JOB_STREAM
from tests.integration.gateway.conftest import serve_app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

STREAMS = 1500  # opened and dropped, as in the report of issue 9
CONCURRENCY = 8  # clients at once: a bounded loop on loopback
SLACK = 16  # consumers whose deletion is still on its way when the count is read


async def _job(gw: Any) -> str:
    """A running job with one event in its log."""
    job_id = await gw.put_job(status="running")
    spec = JobSpec(seed_text="A seed.", goal="Will it happen?")
    await gw.bus.publish(
        new_event(JobCreated, job_id, owner_id=gw.alice, spec=spec, run=resolve_run(spec, 7))
    )
    return job_id


async def _consumers(gw: Any) -> int:
    info = await gw.bus.js.stream_info(JOB_STREAM)
    return int(info.state.consumer_count)


async def _first_event(resp: httpx.Response) -> AsyncIterator[str]:
    """Read the stream until its first event id (so the gateway is surely following the log).

    Returns the line iterator: the connection stays open while the caller holds it (a finalised
    iterator closes the connection).
    """
    lines = resp.aiter_lines()
    while True:
        try:
            line = await anext(lines)
        except StopAsyncIteration:
            raise AssertionError("the stream ended before its first event") from None
        if line.startswith("id:"):
            return lines


@asynccontextmanager
async def _open(
    client: httpx.AsyncClient, job_id: str, headers: dict[str, str]
) -> AsyncIterator[httpx.Response]:
    async with client.stream("GET", f"/api/jobs/{job_id}/stream", headers=headers) as resp:
        yield resp


async def _eventually(check: Any, timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_opened_and_dropped_streams_leave_no_consumers_behind(gw):
    job_id = await _job(gw)
    baseline = await _consumers(gw)
    samples: list[int] = []
    failures: list[str] = []
    async with (
        serve_app(gw.app) as base,
        httpx.AsyncClient(
            base_url=base, timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY * 2)
        ) as client,
    ):
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(STREAMS):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                if i % 5 == 4:  # every fifth request reads the timeline instead
                    r = await client.get(f"/api/jobs/{job_id}/events", headers=gw.as_alice)
                    if r.status_code != 200 or not r.json()["events"]:
                        failures.append(f"events #{i}: {r.status_code} {r.text[:200]}")
                    continue
                async with _open(client, job_id, gw.as_alice) as resp:
                    if resp.status_code != 200:
                        failures.append(f"stream #{i}: {resp.status_code} {(await resp.aread())[:200]!r}")
                        continue
                    await _first_event(resp)
                # leaving the block drops the connection mid-stream, as a closed browser tab does
                if i % 100 == 0:
                    samples.append(await _consumers(gw) - baseline)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        assert not failures, failures[:5]
        assert samples and max(samples) <= CONCURRENCY + SLACK, (
            f"consumers above the baseline while streams were opened and dropped: {samples}"
        )

        async def drained() -> bool:
            return await _consumers(gw) <= baseline

        assert await _eventually(drained), f"{await _consumers(gw) - baseline} consumers left behind"

        # The platform still streams: a new job's events arrive live, and the stream ends at the terminal one.
        fresh = await _job(gw)
        async with _open(client, fresh, gw.as_alice) as resp:
            assert resp.status_code == 200
            lines = aiter(resp.aiter_lines())
            seen: list[str] = []
            async for line in lines:
                if line.startswith("event:"):
                    seen.append(line.removeprefix("event:").strip())
                    if seen == ["JobCreated"]:
                        await gw.bus.publish(new_event(JobCompleted, fresh))
            assert seen == ["JobCreated", "JobCompleted"]
    assert gw.app.state.ctx.metrics.open_streams == 0


async def test_open_streams_are_capped_per_user_and_in_total(gw):
    settings = gw.app.state.ctx.settings  # small caps, so the test can reach them (read per request)
    settings.max_streams_per_user, settings.max_open_streams = 3, 5
    job_id = await _job(gw)
    bob_job = await gw.put_job(owner_id=gw.bob, status="running")
    spec = JobSpec(seed_text="A seed.", goal="Will it happen?")
    await gw.bus.publish(new_event(JobCreated, bob_job, owner_id=gw.bob, spec=spec, run=resolve_run(spec, 7)))
    async with serve_app(gw.app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        async with (
            _open(client, job_id, gw.as_alice) as a1,
            _open(client, job_id, gw.as_alice) as a2,
            _open(client, job_id, gw.as_alice) as a3,
        ):
            assert [r.status_code for r in (a1, a2, a3)] == [200, 200, 200]
            held = [await _first_event(r) for r in (a1, a2, a3)]
            async with _open(client, job_id, gw.as_alice) as over:
                body = (await over.aread()).decode()
                assert over.status_code == 429, body
                assert '"too_many_streams"' in body and "3" in body
                assert int(over.headers["Retry-After"]) > 0
            # /events is a request, not a stream: not refused by the stream cap
            assert (await client.get(f"/api/jobs/{job_id}/events", headers=gw.as_alice)).status_code == 200

            async with _open(client, bob_job, gw.as_bob) as b1, _open(client, bob_job, gw.as_bob) as b2:
                assert [r.status_code for r in (b1, b2)] == [200, 200]
                held += [await _first_event(r) for r in (b1, b2)]
                async with _open(client, bob_job, gw.as_bob) as full:  # 5 open: the gateway is full
                    body = (await full.aread()).decode()
                    assert full.status_code == 503, body
                    assert '"streams_full"' in body and int(full.headers["Retry-After"]) > 0

        del held

        # Dropping streams frees their slots.
        async def alice_can_stream_again() -> bool:
            async with _open(client, job_id, gw.as_alice) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    return False
                await _first_event(resp)
                return True

        assert await _eventually(alice_can_stream_again)


async def test_a_stream_the_event_log_cannot_serve_is_a_503_not_an_empty_200(gw):
    job_id = await _job(gw)
    await gw.bus.nc.close()  # the gateway's connection to NATS is gone
    r = await gw.client.get(f"/api/jobs/{job_id}/stream", headers=gw.as_alice)
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "event_log_unavailable" and r.headers["Retry-After"] == "5"
    assert gw.app.state.ctx.streams.total == 0  # its slot came back
