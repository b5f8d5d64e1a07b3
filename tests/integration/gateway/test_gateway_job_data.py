"""A job's timeline, live SSE stream, sim-data downloads and report, plus health, readiness, accounts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.events import JobCompleted, JobCreated, RunProgressed, RunStarted, new_event
from contracts.spec import JobSpec, resolve_run
from services.gateway.accounts import create_api_key, ensure_local_user

pytestmark = pytest.mark.integration


def _created(job_id: str, owner: str) -> JobCreated:
    spec = JobSpec(seed_text="A seed.", goal="Will it happen?")
    return new_event(JobCreated, job_id, owner_id=owner, spec=spec, run=resolve_run(spec, 7))


def parse_sse(text: str) -> tuple[list[dict[str, str]], int]:
    """SSE messages (id/event/data) and the number of heartbeat comments."""
    messages, pings = [], 0
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                pings += 1
            elif ":" in line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "data" in fields:
            messages.append(fields)
    return messages, pings


async def test_timeline_and_stream_replay_resume_and_close(gw):
    job_id = await gw.put_job(status="running")
    events = [
        _created(job_id, gw.alice),
        new_event(RunStarted, job_id, run_id=f"{job_id}-a1", attempt=1, agents=10, rounds=2),
        new_event(RunProgressed, job_id, run_id=f"{job_id}-a1", round=1, rounds=2, prices={"m": 0.6}),
        new_event(JobCompleted, job_id, final_prices={"m": 0.7}, verdict="likely"),
    ]
    seqs = [(await gw.bus.publish(ev)).seq for ev in events]

    r = await gw.client.get(f"/api/jobs/{job_id}/events", headers=gw.as_alice)
    timeline = r.json()["events"]
    assert [e["type"] for e in timeline] == ["JobCreated", "RunStarted", "RunProgressed", "JobCompleted"]
    assert [e["seq"] for e in timeline] == seqs
    assert timeline[2]["data"]["prices"] == {"m": 0.6} and timeline[0]["occurred_at"]

    r = await gw.client.get(f"/api/jobs/{job_id}/stream", headers=gw.as_alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    msgs, _ = parse_sse(r.text)
    assert [m["event"] for m in msgs] == ["JobCreated", "RunStarted", "RunProgressed", "JobCompleted"]
    assert [int(m["id"]) for m in msgs] == seqs
    assert json.loads(msgs[1]["data"])["data"]["agents"] == 10

    resumed = await gw.client.get(
        f"/api/jobs/{job_id}/stream", headers={**gw.as_alice, "Last-Event-ID": str(seqs[1])}
    )
    assert [m["event"] for m in parse_sse(resumed.text)[0]] == ["RunProgressed", "JobCompleted"]
    bad = await gw.client.get(f"/api/jobs/{job_id}/stream", headers={**gw.as_alice, "Last-Event-ID": "x"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_last_event_id"


async def test_stream_follows_live_events_until_terminal(gw):
    job_id = await gw.put_job(status="running")
    first = await gw.bus.publish(_created(job_id, gw.alice))
    ctx = gw.app.state.ctx
    reader = asyncio.create_task(gw.client.get(f"/api/jobs/{job_id}/stream", headers=gw.as_alice))
    for _ in range(100):  # wait until the stream is open and following
        if ctx.metrics.open_streams:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a few heartbeats while nothing happens
    progressed = await gw.bus.publish(
        new_event(RunProgressed, job_id, run_id=f"{job_id}-a1", round=1, rounds=2)
    )
    done = await gw.bus.publish(new_event(JobCompleted, job_id))
    r = await asyncio.wait_for(reader, 20)
    msgs, pings = parse_sse(r.text)
    assert [int(m["id"]) for m in msgs] == [first.seq, progressed.seq, done.seq]
    assert msgs[-1]["event"] == "JobCompleted" and pings >= 1
    assert ctx.metrics.open_streams == 0


async def test_sim_data_urls_download_with_matching_sha256(gw):
    job_id = uuid.uuid4().hex
    refs = [
        await gw.store.put_bytes(f"jobs/{job_id}/artifacts/{name}", json.dumps({"n": name}).encode())
        for name in ("posts.json", "trades.json")
    ]
    await gw.put_job(
        job_id,
        status="completed",
        artifacts=[
            {
                "name": ref.name,
                "key": ref.key,
                "size": ref.size,
                "sha256": ref.sha256,
                "content_type": ref.content_type,
            }
            for ref in refs
        ],
    )
    r = await gw.client.get(f"/api/jobs/{job_id}/sim-data", headers=gw.as_alice)
    body = r.json()
    assert r.status_code == 200 and body["expires_in"] == 900
    assert [f["name"] for f in body["files"]] == ["posts.json", "trades.json"]
    async with httpx.AsyncClient() as plain:
        for f in body["files"]:
            got = await plain.get(f["url"])
            assert got.status_code == 200
            assert hashlib.sha256(got.content).hexdigest() == f["sha256"] and len(got.content) == f["size"]
        swapped = body["files"][0]["url"].replace("posts.json", "trades.json")
        assert (await plain.get(swapped)).status_code == 403  # the signature covers the key
    job = (await gw.client.get(f"/api/jobs/{job_id}", headers=gw.as_alice)).json()
    assert job["artifacts"]["count"] == 2 and job["artifacts"]["sim_data"] is True


async def test_report_is_404_until_written_then_markdown(gw):
    job_id = uuid.uuid4().hex
    await gw.put_job(job_id, status="reporting")
    r = await gw.client.get(f"/api/jobs/{job_id}/report", headers=gw.as_alice)
    assert r.status_code == 404 and r.json()["code"] == "report_not_ready"
    key = f"jobs/{job_id}/report/report.md"
    await gw.put_job(job_id, status="reporting", report_key=key)
    r = await gw.client.get(f"/api/jobs/{job_id}/report", headers=gw.as_alice)
    assert r.status_code == 404 and r.json()["code"] == "report_not_ready"  # key known, object not yet
    await gw.store.put_bytes(key, "# Report\n\nLikely — 70 %.\n".encode(), "text/markdown")
    r = await gw.client.get(f"/api/jobs/{job_id}/report", headers=gw.as_alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert r.text.startswith("# Report") and "—" in r.text


async def test_health_ready_metrics_and_openapi(gw):
    assert (await gw.client.get("/api/health")).json() == {"status": "ok"}
    r = await gw.client.get("/api/ready")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"nats": "ok", "postgres": "ok", "object_store": "ok", "orchestrator": "ok"}
    token = gw.app.state.ctx.settings.metrics_token  # operators only (test_metrics_access.py)
    metrics = (await gw.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})).text
    answered = [
        s.labels
        for fam in text_string_to_metric_families(metrics)
        for s in fam.samples
        if s.name == "simswarm_http_request_duration_seconds_count"
    ]
    assert {"service": "gateway", "method": "GET", "route": "/api/ready", "status": "200"} in answered
    doc = (await gw.client.get("/api/openapi.json")).json()
    create = doc["paths"]["/api/jobs"]["post"]
    assert {"201", "401", "409", "422", "429", "503"} <= set(create["responses"])
    assert "JobSpec" in doc["components"]["schemas"]
    r = await gw.client.get("/api/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_ready_names_the_failing_part(gw):
    class DownStore:
        async def ping(self) -> bool:
            return False

    gw.app.state.ctx.store = DownStore()
    r = await gw.client.get("/api/ready")
    assert r.status_code == 503 and r.json()["code"] == "not_ready"
    assert r.json()["checks"]["object_store"] == "unavailable" and "object_store" in r.json()["detail"]


async def test_register_login_and_api_keys(gw):
    c = gw.client
    email = f"Carol-{uuid.uuid4().hex[:6]}@Example.com"
    r = await c.post("/api/auth/register", json={"email": email, "password": "correct horse"})
    assert r.status_code == 201 and r.json()["token"].startswith("sst_")
    assert (
        await c.post("/api/auth/register", json={"email": email.lower(), "password": "another one"})
    ).status_code == 409
    assert (await c.post("/api/auth/register", json={"email": "x@y.com", "password": "short"})).json()[
        "code"
    ] == "weak_password"
    assert (
        await c.post("/api/auth/login", json={"email": email, "password": "wrong password"})
    ).status_code == 401
    assert (
        await c.post("/api/auth/login", json={"email": "nobody@x.com", "password": "whatever1"})
    ).status_code == 401
    r = await c.post("/api/auth/login", json={"email": email.upper(), "password": "correct horse"})
    session = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await c.get("/api/jobs", headers=session)).status_code == 200

    r = await c.post("/api/keys", json={"name": "ci"}, headers=session)
    assert r.status_code == 201
    key, key_id = r.json()["key"], r.json()["id"]
    listed = (await c.get("/api/keys", headers=session)).json()
    assert [k["prefix"] for k in listed] == [key[:12]] and "key" not in listed[0]
    by_key = {"Authorization": f"Bearer {key}"}
    assert (await c.get("/api/jobs", headers=by_key)).status_code == 200
    assert (await c.delete(f"/api/keys/{key_id}", headers=session)).status_code == 204
    assert (await c.get("/api/jobs", headers=by_key)).status_code == 401


async def test_ensure_local_user_is_stable_and_keys_work(gw, pg_pool):
    schema = gw.app.state.ctx.accounts.s
    uid1, key1 = await ensure_local_user(pg_pool, schema=schema)
    uid2, key2 = await ensure_local_user(pg_pool, schema=schema)
    assert uid1 == uid2 and key1 != key2
    key3 = await create_api_key(pg_pool, uid1, "cli", schema=schema)
    for key in (key1, key2, key3):
        assert (await gw.client.get("/api/jobs", headers=gw.auth(key))).status_code == 200
    stored = await pg_pool.fetch(f"SELECT hash, prefix FROM {schema}.api_keys WHERE user_id = $1", uid1)
    assert all(key1 not in (row["hash"], row["prefix"]) for row in stored)
    assert hashlib.sha256(key1.encode()).hexdigest() in {row["hash"] for row in stored}
