"""A job through the REST API to JobCompleted; a cancel mid-run; no pod process left behind."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest

from services.kit.procs import alive
from simswarm.client import ApiError
from tests.e2e.conftest import QUESTION, SEED

pytestmark = pytest.mark.e2e


def wait_for_status(client, job_id: str, statuses: set[str], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    job = client.get_job(job_id)
    while job["status"] not in statuses and time.monotonic() < deadline:
        time.sleep(0.3)
        job = client.get_job(job_id)
    return job


def local_pod_pids(platform) -> list[int]:
    pids = []
    for entry in (platform.home / "pods").glob("*.json"):
        pid = json.loads(entry.read_text()).get("pid")
        if pid:
            pids.append(int(pid))
    return pids


def test_a_job_runs_to_completion_with_its_artifacts_and_report(platform, client):
    job = client.create_job(SEED, QUESTION, policy="heuristic", agents=16, rounds=6, random_seed=3)
    job_id = job["job_id"]
    seen = [ev.type for ev in client.stream(job_id)]
    assert seen[0] == "JobCreated" and seen[-1] == "JobCompleted"
    for expected in (
        "PodRequested",
        "PodReady",
        "RunRequested",
        "RunStarted",
        "RunProgressed",
        "RunCompleted",
        "PodTeardownRequested",
        "PodTerminated",
        "ReportRequested",
        "ReportWritten",
    ):
        assert expected in seen, f"{expected} missing from {seen}"
    assert seen.count("RunProgressed") == 6

    done = client.get_job(job_id)
    assert done["status"] == "completed"
    assert "# " in client.report(job_id)

    data = client.sim_data(job_id)
    files = {f["name"]: f for f in data["files"]}
    assert {"posts.json", "trades.json", "market_curves.json", "manifest.json"} <= set(files)
    body = httpx.get(files["market_curves.json"]["url"]).content
    assert hashlib.sha256(body).hexdigest() == files["market_curves.json"]["sha256"]
    curves = json.loads(body)
    assert curves and len(curves[0]["points"]) >= 6

    timeline = [e["type"] for e in client.events(job_id)]
    assert timeline == seen  # the stored timeline is what was streamed live
    assert not [p for p in local_pod_pids(platform) if alive(p)]


def test_cancel_mid_run_tears_the_pod_down(platform, client):
    job = client.create_job(SEED, QUESTION, policy="heuristic", agents=400, rounds=400, random_seed=4)
    job_id = job["job_id"]
    for ev in client.stream(job_id):
        if ev.type == "RunProgressed":
            break
    client.cancel_job(job_id)
    job = wait_for_status(client, job_id, {"cancelled", "completed", "failed"})
    assert job["status"] == "cancelled"
    types = [e["type"] for e in client.events(job_id)]
    assert types[-1] == "JobCancelled" and "PodTerminated" in types and "RunCompleted" not in types
    assert not [p for p in local_pod_pids(platform) if alive(p)]


def test_bad_input_gets_a_clear_error(client):
    with pytest.raises(ApiError) as err:
        client.create_job("x" * 50_001, QUESTION)
    assert err.value.status == 422 and "seed_text" in err.value.detail
    with pytest.raises(ApiError) as err:
        client.create_job(SEED, QUESTION, tier="enormous")
    assert err.value.status == 422 and "tier" in err.value.detail
