"""Drafts (create, partial update, list, launch through the create path) and retry, on the real servers."""

from __future__ import annotations

import pytest

from contracts.commands import CreateJob
from contracts.events import JobCreated, new_event
from contracts.spec import DEFAULT_TIERS, JobSpec, resolve_run

pytestmark = pytest.mark.integration

SPEC = {
    "seed_text": "The central bank meets on Thursday.",
    "goal": "Will the bank cut rates?",
    "tier": "small",
    "policy": "heuristic",
}


async def test_a_draft_is_written_in_parts_then_launched_as_a_job(gw):
    r = await gw.client.post("/api/jobs/draft", json={"goal": SPEC["goal"]}, headers=gw.as_alice)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["spec"] == {"goal": SPEC["goal"]} and draft["missing"] == ["seed_text"]
    draft_id = draft["draft_id"]
    assert r.headers["location"] == f"/api/jobs/draft/{draft_id}"

    r = await gw.client.patch(
        f"/api/jobs/draft/{draft_id}",
        json={"seed_text": SPEC["seed_text"], "tier": "small", "forecast_days": 60},
        headers=gw.as_alice,
    )
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["forecast_days"] == 60 and r.json()["missing"] == []
    # null removes a field (JSON merge patch); the rest stays
    r = await gw.client.patch(
        f"/api/jobs/draft/{draft_id}",
        json={"forecast_days": None, "policy": "heuristic"},
        headers=gw.as_alice,
    )
    assert r.status_code == 200 and r.json()["spec"] == SPEC

    listed = (await gw.client.get("/api/jobs/draft", headers=gw.as_alice)).json()
    assert listed["total"] == 1 and listed["drafts"][0]["draft_id"] == draft_id
    assert (await gw.client.get("/api/jobs/draft", headers=gw.as_bob)).json()["total"] == 0

    r = await gw.client.post(f"/api/jobs/draft/{draft_id}/launch", headers=gw.as_alice)
    assert r.status_code == 201, r.text
    job = r.json()
    cmd = gw.commands[-1]
    assert isinstance(cmd, CreateJob) and cmd.job_id == job["job_id"] and cmd.spec.goal == SPEC["goal"]
    assert (await gw.client.get(f"/api/jobs/{job['job_id']}", headers=gw.as_alice)).status_code == 200
    # launching again answers with the same job, never a second one
    again = await gw.client.post(f"/api/jobs/draft/{draft_id}/launch", headers=gw.as_alice)
    assert again.status_code == 201 and again.json()["job_id"] == job["job_id"]
    assert len([c for c in gw.commands if isinstance(c, CreateJob)]) == 1
    got = (await gw.client.get(f"/api/jobs/draft/{draft_id}", headers=gw.as_alice)).json()
    assert got["launched_job_id"] == job["job_id"]
    r = await gw.client.patch(f"/api/jobs/draft/{draft_id}", json={"goal": "x?"}, headers=gw.as_alice)
    assert r.status_code == 409 and r.json()["code"] == "draft_launched"


async def test_a_draft_refuses_bad_text_at_once_naming_the_field(gw):
    for body, field in [
        ({"goal": "Will it\x1b[2J rain?"}, "goal"),
        ({"seed_text": "x" * 50_001}, "seed_text"),
        ({"markets": [{"question": "a\x00b"}]}, "markets[0].question"),
        ({"forecast_days": 0}, "forecast_days"),
        ({"tier": "huge"}, "tier"),
        ({"colour": "blue"}, "colour"),
    ]:
        r = await gw.client.post("/api/jobs/draft", json=body, headers=gw.as_alice)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] == "invalid_draft" and r.json()["detail"].startswith(f"{field}:"), r.text
    r = await gw.client.post("/api/jobs/draft", content=b"[1, 2]", headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["detail"].startswith("body:")
    r = await gw.client.post("/api/jobs/draft", content=b"{nope", headers=gw.as_alice)
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    draft_id = (await gw.client.post("/api/jobs/draft", json={}, headers=gw.as_alice)).json()["draft_id"]
    r = await gw.client.patch(f"/api/jobs/draft/{draft_id}", json={"goal": "two\nlines"}, headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["detail"].startswith("goal:")


async def test_launch_fails_exactly_as_a_create_would(gw):
    cases = [
        ({"goal": "Will it rain?"}, "seed_text"),  # incomplete
        ({**SPEC, "agents": 100_000}, "agents"),  # over the small tier's cap
        ({**SPEC, "policy": "llm"}, "policy"),  # no model server here
    ]
    for spec, field in cases:
        created = await gw.client.post("/api/jobs", json=spec, headers=gw.as_alice)
        draft_id = (await gw.client.post("/api/jobs/draft", json=spec, headers=gw.as_alice)).json()[
            "draft_id"
        ]
        launched = await gw.client.post(f"/api/jobs/draft/{draft_id}/launch", headers=gw.as_alice)
        assert launched.status_code == created.status_code == 422, (spec, launched.text)
        assert launched.json() == created.json() and launched.json()["detail"].startswith(f"{field}:")
    assert not [c for c in gw.commands if isinstance(c, CreateJob)]


async def test_another_users_draft_looks_missing(gw):
    draft_id = (await gw.client.post("/api/jobs/draft", json=SPEC, headers=gw.as_alice)).json()["draft_id"]
    missing = await gw.client.get("/api/jobs/draft/0123456789abcdef", headers=gw.as_bob)
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"goal": "mine now?"}),
        ("DELETE", "", None),
        ("POST", "/launch", None),
    ]:
        r = await gw.client.request(method, f"/api/jobs/draft/{draft_id}{path}", json=body, headers=gw.as_bob)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["code"] == missing.json()["code"] == "draft_not_found"
    r = await gw.client.get(f"/api/jobs/draft/{draft_id}", headers=gw.as_alice)
    assert r.status_code == 200 and r.json()["spec"]["goal"] == SPEC["goal"]
    assert (await gw.client.delete(f"/api/jobs/draft/{draft_id}", headers=gw.as_alice)).status_code == 204
    assert (await gw.client.get(f"/api/jobs/draft/{draft_id}", headers=gw.as_alice)).status_code == 404


async def _job_with_spec(gw, status: str) -> str:
    """A job as the orchestrator leaves it: its JobCreated in the event log and its projection row.

    Each with its own goal: the duplicate guard rightly refuses a second live job with the same spec."""
    job_id = await gw.put_job(status=status, stage=status)
    spec = JobSpec(**{**SPEC, "goal": f"Will the bank cut rates ({status}, {job_id[:6]})?"})
    await gw.bus.publish(
        new_event(JobCreated, job_id, owner_id=gw.alice, spec=spec, run=resolve_run(spec, 7, DEFAULT_TIERS))
    )
    return job_id


async def test_retry_makes_a_new_job_linked_to_a_failed_or_cancelled_one(gw):
    for status in ("failed", "cancelled"):
        job_id = await _job_with_spec(gw, status)
        r = await gw.client.post(f"/api/jobs/{job_id}/retry", headers=gw.as_alice)
        assert r.status_code == 201, r.text
        new_id = r.json()["job_id"]
        assert new_id != job_id and r.headers["location"] == f"/api/jobs/{new_id}"
        cmd = gw.commands[-1]
        assert isinstance(cmd, CreateJob) and cmd.retry_of == job_id and job_id[:6] in cmd.spec.goal
    for status in ("running", "completed"):
        job_id = await _job_with_spec(gw, status)
        r = await gw.client.post(f"/api/jobs/{job_id}/retry", headers=gw.as_alice)
        assert r.status_code == 409 and r.json()["code"] == "not_retryable", r.text
    failed = await _job_with_spec(gw, "failed")
    r = await gw.client.post(f"/api/jobs/{failed}/retry", headers=gw.as_bob)
    assert r.status_code == 404 and r.json()["code"] == "job_not_found"
    # an Idempotency-Key makes a retried retry answer with the same new job
    first = await gw.client.post(
        f"/api/jobs/{failed}/retry", headers={**gw.as_alice, "Idempotency-Key": "k1"}
    )
    second = await gw.client.post(
        f"/api/jobs/{failed}/retry", headers={**gw.as_alice, "Idempotency-Key": "k1"}
    )
    assert (
        first.status_code == second.status_code == 201 and first.json()["job_id"] == second.json()["job_id"]
    )


async def test_demo_mode_refuses_register_create_launch_and_retry(gw):
    gw.app.state.ctx.settings.demo_mode = True
    draft_id = None
    try:
        for method, path, body in [
            ("POST", "/api/auth/register", {"email": "x@example.com", "password": "p" * 12}),
            ("POST", "/api/jobs", SPEC),
            ("POST", "/api/jobs/draft", SPEC),
        ]:
            r = await gw.client.request(method, path, json=body, headers=gw.as_alice)
            assert r.status_code == 403 and r.json()["code"] == "demo_mode", (path, r.text)
    finally:
        gw.app.state.ctx.settings.demo_mode = False
    draft_id = (await gw.client.post("/api/jobs/draft", json=SPEC, headers=gw.as_alice)).json()["draft_id"]
    gw.app.state.ctx.settings.demo_mode = True
    try:
        r = await gw.client.post(f"/api/jobs/draft/{draft_id}/launch", headers=gw.as_alice)
        assert r.status_code == 403 and r.json()["code"] == "demo_mode"
    finally:
        gw.app.state.ctx.settings.demo_mode = False
