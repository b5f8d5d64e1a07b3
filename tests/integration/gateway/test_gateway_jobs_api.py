"""The jobs REST API on the real servers: auth, validation, ownership, quotas, commands, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.commands import CancelJob, CreateJob

pytestmark = pytest.mark.integration


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


SPEC = {
    "seed_text": "The central bank meets on Thursday.",
    "goal": "Will the bank cut rates?",
    "tier": "small",
    "policy": "heuristic",
}  # the tier's default (llm) needs a model server, which these tests have not


async def test_requests_without_a_valid_key_get_401(gw):
    r = await gw.client.get("/api/jobs")
    assert r.status_code == 401 and r.json()["code"] == "missing_credentials"
    assert r.headers["www-authenticate"] == "Bearer"
    r = await gw.client.get("/api/jobs", headers=gw.auth("ssk_not-a-real-key-at-all-000000"))
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    r = await gw.client.get("/api/jobs", headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert r.status_code == 401


async def test_create_read_and_list_a_job(gw):
    r = await gw.client.post("/api/jobs", json=SPEC, headers=gw.as_alice)
    assert r.status_code == 201, r.text
    job = r.json()
    assert "." not in job["job_id"] and job["status"] == "created"
    assert r.headers["location"] == f"/api/jobs/{job['job_id']}"
    cmd = gw.commands[-1]
    assert isinstance(cmd, CreateJob) and cmd.owner_id == gw.alice and cmd.spec.goal == SPEC["goal"]

    r = await gw.client.get(f"/api/jobs/{job['job_id']}", headers=gw.as_alice)
    assert r.status_code == 200
    got = r.json()
    assert got["goal"] == SPEC["goal"] and got["progress"] == {"round": 0, "rounds": 15, "percent": 0.0}
    assert got["artifacts"]["sim_data"] is False

    r = await gw.client.get("/api/jobs", headers=gw.as_alice)
    assert [j["job_id"] for j in r.json()["jobs"]] == [job["job_id"]]


async def test_another_users_job_looks_missing(gw):
    job_id = await gw.put_job()
    missing = await gw.client.get("/api/jobs/0123456789abcdef", headers=gw.as_bob)
    for method, path in [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/sim-data"),
        ("GET", "/report"),
        ("POST", "/cancel"),
        ("DELETE", ""),
        ("GET", "/stream"),
    ]:
        r = await gw.client.request(method, f"/api/jobs/{job_id}{path}", headers=gw.as_bob)
        assert r.status_code == 404, (method, path)
        assert r.json()["code"] == missing.json()["code"] == "job_not_found"
    assert (await gw.client.get("/api/jobs", headers=gw.as_bob)).json()["total"] == 0
    assert not gw.commands  # bob's cancel/delete never reached the orchestrator


async def test_bad_specs_get_clear_errors(gw):
    r = await gw.client.post("/api/jobs", json={**SPEC, "seed_text": "x" * 50_001}, headers=gw.as_alice)
    assert r.status_code == 422
    assert r.json() == {
        "detail": "seed_text: is 50,001 characters; the limit is 50,000",
        "code": "invalid_spec",
    }
    r = await gw.client.post("/api/jobs", json={**SPEC, "tier": "gigantic"}, headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["detail"].startswith("tier: unknown tier 'gigantic'")
    r = await gw.client.post("/api/jobs", json={"goal": "Will it?"}, headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["detail"] == "seed_text: is required"
    r = await gw.client.post("/api/jobs", content=b"{not json", headers=gw.as_alice)
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    r = await gw.client.post("/api/jobs", json={**SPEC, "seed_text": "REJECT this"}, headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["code"] == "invalid_spec"  # the orchestrator's own refusal
    assert (await gw.client.get("/api/jobs", headers=gw.as_alice)).json()["total"] == 0


async def test_identical_live_job_within_a_minute_is_409(gw):
    assert (await gw.client.post("/api/jobs", json=SPEC, headers=gw.as_alice)).status_code == 201
    r = await gw.client.post("/api/jobs", json=dict(reversed(SPEC.items())), headers=gw.as_alice)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_job"
    # another user, or another question, is not a duplicate
    assert (await gw.client.post("/api/jobs", json=SPEC, headers=gw.as_bob)).status_code == 201
    other = {**SPEC, "goal": "Will the bank hold rates?"}
    assert (await gw.client.post("/api/jobs", json=other, headers=gw.as_alice)).status_code == 201


async def test_live_job_quota_gives_429_with_retry_after(gw):
    gw.app.state.ctx.settings.max_live_jobs_per_user = 2
    await gw.put_job(status="running")
    await gw.put_job(status="completed")
    assert (await gw.client.post("/api/jobs", json=SPEC, headers=gw.as_alice)).status_code == 201
    r = await gw.client.post("/api/jobs", json={**SPEC, "goal": "Another question?"}, headers=gw.as_alice)
    assert r.status_code == 429 and r.json()["code"] == "quota_exceeded"
    assert int(r.headers["retry-after"]) > 0


async def test_no_orchestrator_gives_503(gw_no_orchestrator):
    gw = gw_no_orchestrator
    gw.app.state.ctx.command_timeout_s = 1.0
    r = await gw.client.post("/api/jobs", json=SPEC, headers=gw.as_alice)
    assert r.status_code == 503 and r.json()["code"] == "orchestrator_unavailable"
    # the failed request does not count as a duplicate or against the quota
    assert (await gw.client.get("/api/jobs", headers=gw.as_alice)).json()["total"] == 0


async def test_list_is_paged_newest_first_and_filtered(gw):
    ids = [
        await gw.put_job(created_at=ago(100 - i), status="completed" if i % 2 else "running")
        for i in range(25)
    ]
    r = await gw.client.get("/api/jobs?page=1&per_page=10", headers=gw.as_alice)
    body = r.json()
    assert body["total"] == 25 and body["page"] == 1 and body["per_page"] == 10
    assert [j["job_id"] for j in body["jobs"]] == ids[::-1][:10]
    r = await gw.client.get("/api/jobs?page=3&per_page=10", headers=gw.as_alice)
    assert [j["job_id"] for j in r.json()["jobs"]] == ids[::-1][20:]
    r = await gw.client.get("/api/jobs?status=completed&per_page=100", headers=gw.as_alice)
    assert r.json()["total"] == 12 and all(j["status"] == "completed" for j in r.json()["jobs"])
    r = await gw.client.get("/api/jobs?per_page=101", headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["detail"].startswith("per_page:")
    r = await gw.client.get("/api/jobs?status=sleeping", headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["detail"].startswith("status:")


async def test_cancel_and_delete(gw):
    live = await gw.put_job(status="running")
    r = await gw.client.post(f"/api/jobs/{live}/cancel", headers=gw.as_alice)
    assert r.status_code == 202 and r.json()["status"] == "cancelling"
    assert isinstance(gw.commands[-1], CancelJob) and gw.commands[-1].requested_by == gw.alice

    done = await gw.put_job(status="completed")
    r = await gw.client.post(f"/api/jobs/{done}/cancel", headers=gw.as_alice)
    assert r.status_code == 409 and r.json()["code"] == "job_finished"

    running = await gw.put_job(status="running")
    before = len(gw.commands)
    assert (await gw.client.delete(f"/api/jobs/{running}", headers=gw.as_alice)).status_code == 204
    assert isinstance(gw.commands[before], CancelJob)  # cancelled before it disappeared
    assert (await gw.client.get(f"/api/jobs/{running}", headers=gw.as_alice)).status_code == 404
    listed = [j["job_id"] for j in (await gw.client.get("/api/jobs", headers=gw.as_alice)).json()["jobs"]]
    assert running not in listed and done in listed


async def test_unexpected_errors_are_500_without_a_traceback(gw):
    import httpx

    async def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    gw.app.state.ctx.jobs.get_owned = broken
    transport = httpx.ASGITransport(app=gw.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        r = await client.get("/api/jobs/abc", headers=gw.as_alice)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error; the gateway logged the details", "code": "internal"}


async def test_idempotency_key_makes_create_retry_safe(gw):
    headers = {**gw.as_alice, "Idempotency-Key": "req-1"}
    first = await gw.client.post("/api/jobs", json=SPEC, headers=headers)
    again = await gw.client.post("/api/jobs", json=SPEC, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["job_id"] == again.json()["job_id"]
    assert len([c for c in gw.commands if isinstance(c, CreateJob)]) == 1
    r = await gw.client.post("/api/jobs", json={**SPEC, "goal": "Something else?"}, headers=headers)
    assert r.status_code == 409 and r.json()["code"] == "idempotency_conflict"
    # the same key from another user is another job
    other = await gw.client.post("/api/jobs", json=SPEC, headers={**gw.as_bob, "Idempotency-Key": "req-1"})
    assert other.status_code == 201 and other.json()["job_id"] != first.json()["job_id"]
