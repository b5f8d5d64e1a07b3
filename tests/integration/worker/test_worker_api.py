"""The pod worker API end to end: a real worker (uvicorn), the real engine, real SeaweedFS uploads."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from contracts.artifacts import ENGINE_ARTIFACTS
from engine.worker import WorkerSettings, create_app
from services.podmanager.providers.base import WorkerEndpoint
from services.podmanager.worker_client import WorkerClient
from tests.fakes.openai_server import FakeOpenAIServer, free_port

pytestmark = pytest.mark.integration

TOKEN = "pod-token-" + uuid.uuid4().hex
AUTH = {"authorization": f"Bearer {TOKEN}"}
SEED_TEXT = (
    "The Senate Finance Committee meets on Tuesday to vote on the Clean Energy Act. Senator Maria Lopez "
    "says the bill has the votes; the Chamber of Commerce warns of costs to small business. Analysts at "
    "Goldman Sachs expect a narrow pass, while the Taxpayers Union campaigns against it."
)


class Worker:
    """A worker app served by uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "worker did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    settings = WorkerSettings(
        token=TOKEN, work_dir=tmp_path / "work", upload_attempts=3, upload_backoff_s=0.05
    )
    with Worker(settings) as w:
        yield w


def spec(**overrides: Any) -> dict[str, Any]:
    body = {
        "seed_text": SEED_TEXT,
        "goal": "Will the Clean Energy Act pass the Senate by June?",
        "agents": 12,
        "rounds": 6,
        "policy": "heuristic",
        "random_seed": 7,
        "checkpoint_every": 2,
    }
    body.update(overrides)
    return body


async def submission(
    store: Any, job_id: str, run_id: str | None = None, **spec_overrides: Any
) -> dict[str, Any]:
    from contracts.objects import artifact_key, checkpoint_key

    urls = {name: await store.presign_put(artifact_key(job_id, name)) for name in ENGINE_ARTIFACTS}
    return {
        "run_id": run_id or f"{job_id}-a1",
        "job_id": job_id,
        "spec": spec(**spec_overrides),
        "upload_urls": urls,
        "checkpoint_put_url": await store.presign_put(checkpoint_key(job_id)),
    }


async def follow(client: httpx.AsyncClient, run_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Long-poll the events until the run is terminal."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await client.get(f"/runs/{run_id}/events", params={"after": len(events), "wait": 10})
        assert r.status_code == 200, r.text
        page = r.json()
        events.extend(page["events"])
        if (
            page["status"] != "running"
            and events
            and events[-1]["kind"] in ("completed", "failed", "cancelled")
        ):
            return events
    raise AssertionError(
        f"run {run_id} did not finish in {timeout} s; events so far: {[e['kind'] for e in events]}"
    )


async def test_heuristic_run_uploads_verified_artifacts(worker: Worker, store: Any) -> None:
    job_id = uuid.uuid4().hex
    body = await submission(store, job_id)
    async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=60) as client:
        r = await client.post("/runs", json=body)
        assert r.status_code == 202, r.text
        events = await follow(client, body["run_id"])
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert events[0]["kind"] == "started" and events[-1]["kind"] == "completed", events[-1]
        rounds = [e for e in events if e["kind"] == "round"]
        assert [e["round"] for e in rounds] == list(range(1, 7))
        assert all(e["prices"] for e in rounds)
        assert any(e["kind"] == "checkpoint" for e in events)
        done = events[-1]
        names = {a["name"] for a in done["artifacts"]}
        assert {"chat_log.json", "market_curves.json", "manifest.json"} <= names
        from contracts.objects import artifact_key

        for a in done["artifacts"]:
            data = await store.get_bytes(artifact_key(job_id, a["name"]))
            assert len(data) == a["size"] and hashlib.sha256(data).hexdigest() == a["sha256"]
        # Live post previews: each round event carries up to 5 of that round's newest top-level posts,
        # and every one is the post of that id in the run's posts.json (same round, author, text).
        all_posts = {
            p["post_id"]: p for p in json.loads(await store.get_bytes(artifact_key(job_id, "posts.json")))
        }
        assert any(e["posts"] for e in rounds)
        for e in rounds:
            assert len(e["posts"]) <= 5
            ids = [int(p["post_id"][1:]) for p in e["posts"]]
            assert ids == sorted(ids, reverse=True)  # newest first
            for p in e["posts"]:
                full = all_posts[p["post_id"]]
                assert full["round"] == e["round"] and full["parent_id"] is None
                assert p["text"] == full["text"][:280] and p["claim_id"] == full["claim_id"]
                assert p["author"] and p["stakeholder"]
            newest = sorted(
                (
                    int(k[1:])
                    for k, v in all_posts.items()
                    if v["round"] == e["round"] and v["parent_id"] is None
                ),
                reverse=True,
            )[:5]
            assert ids == newest

        again = await client.post("/runs", json=body)  # idempotent resubmit
        assert again.status_code == 200 and again.json()["status"] == "completed"
        status = (await client.get(f"/runs/{body['run_id']}")).json()
        assert status["status"] == "completed" and status["round"] == 6 and status["engine_seconds"] > 0
        chat = (await client.get(f"/runs/{body['run_id']}/chat", params={"tail": 5})).json()
        assert 0 < len(chat["entries"]) <= 5
        logs = (await client.get("/logs", params={"tail": 500})).json()["lines"]
        assert logs and not any("X-Amz-Signature" in line or TOKEN in line for line in logs)


async def test_auth_health_and_bad_bodies(worker: Worker) -> None:
    async with httpx.AsyncClient(base_url=worker.url, timeout=30) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/logs")).status_code == 401
        assert (await client.get("/logs", headers={"authorization": "Bearer nope"})).status_code == 401
        assert (await client.post("/runs", json={})).status_code == 401
        r = await client.post("/runs", json={"run_id": "r1", "job_id": "j"}, headers=AUTH)
        assert r.status_code == 400 and "spec" in r.text
        r = await client.post(
            "/runs", content=b"{not json", headers={**AUTH, "content-type": "application/json"}
        )
        assert r.status_code == 400
        assert (await client.get("/runs/unknown", headers=AUTH)).status_code == 404


async def test_a_health_check_with_another_pods_token_is_refused(worker: Worker) -> None:
    """/health is public, but a token that comes with it is checked: a pod manager polling its pod's
    port must not take another pod's worker there (a port reused before its own worker bound it) for
    its own and send it the run, which that worker would refuse for good."""
    async with httpx.AsyncClient(timeout=30) as http:
        ours = WorkerClient(WorkerEndpoint(base_url=worker.url, token=TOKEN), http)
        theirs = WorkerClient(WorkerEndpoint(base_url=worker.url, token="another pod's token"), http)
        assert await ours.healthy()
        assert not await theirs.healthy()
        assert (await http.get(f"{worker.url}/health")).status_code == 200  # probes without a token


async def test_conflict_then_cancel(worker: Worker, store: Any) -> None:
    job_id = uuid.uuid4().hex
    body = await submission(store, job_id, agents=300, rounds=5000, checkpoint_every=0)
    async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=60) as client:
        assert (await client.post("/runs", json=body)).status_code == 202
        other = await submission(store, uuid.uuid4().hex)
        r = await client.post("/runs", json=other)
        assert r.status_code == 409 and body["run_id"] in r.text
        same = await client.post("/runs", json=body)
        assert same.status_code == 202 and same.json()["status"] == "running"
        page = (await client.get(f"/runs/{body['run_id']}/events", params={"after": 1, "wait": 20})).json()
        assert page["events"] and page["events"][0]["kind"] in ("round", "checkpoint")
        # Partial chat while the run is still going: the rounds played so far.
        live = (await client.get(f"/runs/{body['run_id']}/chat", params={"tail": 10})).json()
        assert 0 < len(live["entries"]) <= 10 and all(e["round"] >= 1 for e in live["entries"])
        r = await client.post(f"/runs/{body['run_id']}/cancel")
        assert r.status_code == 202
        events = await follow(client, body["run_id"], timeout=60)
        assert events[-1]["kind"] == "cancelled"
        assert (await client.get(f"/runs/{body['run_id']}")).json()["status"] == "cancelled"
        # With nothing active, another run may start.
        assert (await client.post("/runs", json=other)).status_code == 202
        assert (await follow(client, other["run_id"]))[-1]["kind"] == "completed"


async def test_resume_from_checkpoint(worker: Worker, store: Any) -> None:
    """Attempt 1 is cancelled after a checkpoint; attempt 2 (same spec) resumes after it."""
    from contracts.objects import checkpoint_key

    job_id = uuid.uuid4().hex
    first = await submission(store, job_id, agents=200, rounds=30, checkpoint_every=2)
    async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=60) as client:
        await client.post("/runs", json=first)
        seen: list[dict[str, Any]] = []
        while not any(e["kind"] == "checkpoint" for e in seen):
            page = (
                await client.get(f"/runs/{first['run_id']}/events", params={"after": len(seen), "wait": 10})
            ).json()
            seen.extend(page["events"])
            assert page["status"] == "running", "the run ended before its first checkpoint"
        await client.post(f"/runs/{first['run_id']}/cancel")
        events = seen + (await follow_from(client, first["run_id"], len(seen)))
        assert events[-1]["kind"] == "cancelled"
        checkpoints = [e["round"] for e in events if e["kind"] == "checkpoint"]
        assert await store.exists(checkpoint_key(job_id))
        second = {
            **first,
            "run_id": f"{job_id}-a2",
            "resume_get_url": await store.presign_get(checkpoint_key(job_id)),
        }
        await client.post("/runs", json=second)
        events = await follow(client, second["run_id"])
        assert events[-1]["kind"] == "completed", events[-1]
        rounds = [e["round"] for e in events if e["kind"] == "round"]
        assert rounds[0] == checkpoints[-1] + 1 and rounds[-1] == 30


async def follow_from(client: httpx.AsyncClient, run_id: str, after: int) -> list[dict[str, Any]]:
    events = await follow(client, run_id)
    return events[after:]


async def test_upload_failure_fails_the_run_with_a_clear_reason(worker: Worker) -> None:
    dead = f"http://127.0.0.1:{free_port()}/bucket/key?X-Amz-Signature=secret"
    body = {
        "run_id": "upload-fails",
        "job_id": "j",
        "spec": spec(rounds=2, checkpoint_every=0),
        "upload_urls": {name: dead for name in ENGINE_ARTIFACTS},
    }
    async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=60) as client:
        assert (await client.post("/runs", json=body)).status_code == 202
        events = await follow(client, "upload-fails")
        assert events[-1]["kind"] == "failed"
        message = events[-1]["message"]
        assert "upload of" in message and "after 3 attempts" in message and "X-Amz" not in message


async def test_health_follows_the_llm_endpoint(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        fake.configure(fail_models=True)
        with Worker(WorkerSettings(token=TOKEN, llm_url=fake.url, work_dir=tmp_path)) as w:
            async with httpx.AsyncClient(base_url=w.url, timeout=30) as client:
                assert (await client.get("/health")).status_code == 503
                fake.configure(fail_models=False)
                assert (await client.get("/health")).status_code == 200
    await asyncio.sleep(0)


async def test_llm_run_reports_llm_counters(tmp_path: Path, store: Any) -> None:
    job_id = uuid.uuid4().hex
    with FakeOpenAIServer() as fake:
        fake.configure(latency_ms=[5, 20])
        settings = WorkerSettings(token=TOKEN, llm_url=fake.url, work_dir=tmp_path)
        with Worker(settings) as w:
            body = await submission(store, job_id, policy="llm", agents=8, rounds=3, checkpoint_every=0)
            async with httpx.AsyncClient(base_url=w.url, headers=AUTH, timeout=60) as client:
                assert (await client.post("/runs", json=body)).status_code == 202
                events = await follow(client, body["run_id"])
                assert events[-1]["kind"] == "completed", events[-1]
                counters = (await client.get(f"/runs/{body['run_id']}")).json()["counters"]
                assert counters["llm_calls"] > 0 and counters["llm_prompt_tokens"] > 0
                assert counters["llm_latency_p50_ms"] > 0
