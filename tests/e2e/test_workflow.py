"""The workflow over the API on the whole platform: a draft launched and run to completion, its
structured result, graph, PDF and share link, and a cancelled job retried (the real orchestrator,
pod manager, engine, reporter and graph service, through `simswarm up`)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

SEED = """The city council votes next month on a congestion charge for the downtown core. The mayor and
transit advocates back it; the retailers' association and the taxi drivers' union oppose it, citing lost
trade. A regional newspaper poll found residents split, with commuters from the suburbs most opposed."""
QUESTION = "Will the city council approve the downtown congestion charge next month?"


def _client(platform) -> httpx.Client:
    key = (platform.home / "api-key").read_text().strip()
    return httpx.Client(base_url=platform.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _until(fetch, done, timeout: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = fetch()
    return value


def test_draft_to_results_to_share_and_retry(platform) -> None:
    with _client(platform) as api:
        draft = api.post("/api/jobs/draft", json={"goal": QUESTION}).json()
        r = api.patch(
            f"/api/jobs/draft/{draft['draft_id']}",
            json={"seed_text": SEED, "policy": "heuristic", "agents": 12, "rounds": 5, "random_seed": 11},
        )
        assert r.status_code == 200 and r.json()["missing"] == [], r.text
        r = api.post(f"/api/jobs/draft/{draft['draft_id']}/launch")
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]

        job = _until(
            lambda: api.get(f"/api/jobs/{job_id}").json(),
            lambda j: j["terminal"] and (j["result"] is not None or j["status"] != "completed"),
        )
        assert job["status"] == "completed", job
        result = job["result"]
        assert result["verdict"] and result["verdict"] == job["verdict"]
        assert result["key_insight"] and "\n" not in result["key_insight"]
        assert result["scale"]["agents"] == 12 and result["scale"]["rounds"] == 5
        assert result["scale"]["horizon_days"] == 30 and result["stakeholders"]
        assert any(f["citations"] for f in result["findings"])

        graph = _until(lambda: api.get(f"/api/jobs/{job_id}/graph"), lambda r: r.status_code == 200, 60)
        assert graph.status_code == 200, graph.text
        nodes = graph.json()["nodes"]
        assert {n["kind"] for n in nodes} >= {"agent"} and graph.json()["truncated"] is False
        pdf = api.get(f"/api/jobs/{job_id}/export/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

        share = api.post(f"/api/jobs/{job_id}/share").json()
        public = httpx.get(f"{platform.api_url}/api/share/{share['share_token']}", timeout=30)
        assert public.status_code == 200 and public.json()["result"] == result
        assert api.post(f"/api/jobs/{job_id}/retry").json()["code"] == "not_retryable"

        # a cancelled job, retried: a new job with the same spec, linked by retry_of
        big = api.post(
            "/api/jobs",
            json={
                "seed_text": SEED,
                "goal": QUESTION + " (long run)",
                "policy": "heuristic",
                "agents": 300,
                "rounds": 300,
            },
        ).json()
        assert api.post(f"/api/jobs/{big['job_id']}/cancel").status_code == 202
        cancelled = _until(lambda: api.get(f"/api/jobs/{big['job_id']}").json(), lambda j: j["terminal"])
        assert cancelled["status"] == "cancelled", cancelled
        r = api.post(f"/api/jobs/{big['job_id']}/retry")
        assert r.status_code == 201, r.text
        again = api.get(f"/api/jobs/{r.json()['job_id']}").json()
        assert again["retry_of"] == big["job_id"] and again["goal"] == big["goal"]
        api.post(f"/api/jobs/{again['job_id']}/cancel")
