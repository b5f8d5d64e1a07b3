"""On the platform `simswarm up` starts (every service on NATS as its own user): streams opened and
dropped through the real gateway leave no JetStream consumer behind, so the gateway's NATS user may
delete what it creates."""

from __future__ import annotations

import time

import httpx
import pytest

from contracts.subjects import JOB_STREAM

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SEED = """The city council debated a new tram line for the harbour district. The mayor backed it, the
transport union asked for more drivers first, and residents worried about construction noise."""
DROPS = 60


def _consumers(probe) -> int:
    async def count(bus) -> int:
        return int((await bus.js.stream_info(JOB_STREAM)).state.consumer_count)

    return probe.run(probe._with_bus(count))


def test_dropped_streams_leave_no_consumers(platform, make_probe, client_for):
    probe = make_probe(platform)
    with client_for(platform) as client:
        job_id = client.create_job(
            SEED,
            "Will the council approve the tram line this year?",
            policy="heuristic",
            agents=6,
            rounds=3,
            random_seed=3,
        )["job_id"]
    baseline = _consumers(probe)
    headers = {"Authorization": f"Bearer {(platform.home / 'api-key').read_text().strip()}"}
    most = 0
    with httpx.Client(base_url=platform.api_url, headers=headers, timeout=30) as http:
        for i in range(DROPS):
            with http.stream("GET", f"/api/jobs/{job_id}/stream") as resp:
                assert resp.status_code == 200, resp.read()
                assert any(line.startswith("id:") for line in resp.iter_lines())
            if i % 10 == 0:
                most = max(most, _consumers(probe) - baseline)
            if i % 3 == 0:
                assert http.get(f"/api/jobs/{job_id}/events").status_code == 200
    assert most <= 3, f"{most} consumers above the baseline while streams were dropped one by one"
    deadline = time.monotonic() + 30
    while _consumers(probe) > baseline and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _consumers(probe) <= baseline, f"{_consumers(probe) - baseline} consumers left behind"
