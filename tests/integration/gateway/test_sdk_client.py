"""The SDK (simswarm.client) against the real gateway served by uvicorn on loopback, over the real
NATS, Postgres and SeaweedFS: typed models and errors, paging, Retry-After, the Idempotency-Key
across a connection that really breaks (tests/netproxy.py), and verified, atomic, skipping downloads
from the real object store. Jobs that run to completion are in tests/e2e/test_sdk.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simswarm.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConnectionFailed,
    IntegrityError,
    Job,
    NotFound,
    RateLimited,
    RetryPolicy,
    ValidationError,
    WaitTimeout,
)
from tests.integration.gateway.conftest import serve_app
from tests.netproxy import DroppingProxy

pytestmark = pytest.mark.integration

SEED = "The central bank meets on Thursday; markets expect a cut of 25 basis points."
GOAL = "Will the central bank cut rates on Thursday?"


@pytest.fixture
async def api(gw: Any) -> AsyncIterator[str]:
    """The `gw` app (its lifespan already entered) served by uvicorn on a free loopback port."""
    async with serve_app(gw.app) as base:
        yield base


async def test_models_are_the_gateways_and_errors_carry_the_code(gw, api):
    async with AsyncClient(api, gw.alice_key) as alice, AsyncClient(api, gw.bob_key) as bob:
        job = await alice.create(SEED, GOAL, policy="heuristic", agents=5, rounds=3)
        assert isinstance(job, Job) and job.status in ("created", "provisioning") and job.goal == GOAL
        assert job["job_id"] == job.job_id  # dict-style reads keep the first SDK's scripts working
        assert (await alice.get(job.job_id)).job_id == job.job_id
        with pytest.raises(NotFound) as err:
            await bob.get(job.job_id)  # another user's job: exactly like a missing one
        assert err.value.status == 404 and err.value.code == "job_not_found"
        with pytest.raises(ValidationError) as err:
            await alice.create("x" * 50_001, GOAL)
        assert err.value.code == "invalid_spec" and err.value.detail.startswith("seed_text: ")
        with pytest.raises(ValidationError) as err:
            await alice.create(SEED, GOAL, tier="enormous")
        assert err.value.detail.startswith("tier: ")
    async with AsyncClient(api, "ssk_" + "0" * 40) as stranger:
        with pytest.raises(AuthenticationError) as err:
            await stranger.get(job.job_id)
        assert err.value.code == "invalid_credentials"


async def test_list_pages_through_every_job(gw, api):
    ids = {await gw.put_job() for _ in range(7)}
    async with AsyncClient(api, gw.alice_key) as alice, AsyncClient(api, gw.bob_key) as bob:
        listed = [job.job_id async for job in alice.list(per_page=3)]
        assert sorted(listed) == sorted(ids)  # three pages, nothing twice, nothing missing
        assert [job.job_id async for job in alice.list(per_page=3, limit=4)] == listed[:4]
        assert [job async for job in bob.list()] == []


async def test_retry_after_is_honoured(gw, api, settings):
    settings.rate_limits = "jobs_user=1/2"  # one creation, then one every 2 s
    async with AsyncClient(api, gw.alice_key) as alice:
        first = await alice.create(SEED, GOAL, policy="heuristic", random_seed=1)
        second = await alice.create(SEED, GOAL, policy="heuristic", random_seed=2)  # a 429 first, then waited
        assert first.job_id != second.job_id
        assert alice.retries == 1
    # A Retry-After longer than the client accepts is raised, with the wait and the code.
    async with AsyncClient(api, gw.alice_key, retry=RetryPolicy(max_retry_after_s=0.1)) as impatient:
        with pytest.raises(RateLimited) as err:
            await impatient.create(SEED, GOAL, policy="heuristic", random_seed=3)
        assert (
            err.value.code == "rate_limited"
            and err.value.retry_after is not None
            and err.value.retry_after >= 1
        )


async def test_a_create_whose_answer_is_lost_is_retried_into_the_same_job(gw, api):
    host, port = api.removeprefix("http://").split(":")
    with DroppingProxy(host, int(port)) as proxy:
        proxy.cut_responses(b"POST /api/jobs ", after_bytes=0, times=1)  # the job is made, the answer lost
        async with AsyncClient(proxy.url, gw.alice_key) as alice:
            job = await alice.create(SEED, GOAL, policy="heuristic", random_seed=4)
            assert alice.retries == 1 and proxy.cuts == 1
        posts = proxy.heads_with(b"POST /api/jobs ")
    keys = {
        line for head in posts for line in head.split(b"\r\n") if line.lower().startswith(b"idempotency-key")
    }
    assert len(posts) == 2 and len(keys) == 1  # both attempts carried the one key
    creates = [c for c in gw.commands if type(c).__name__ == "CreateJob"]
    assert [c.job_id for c in creates] == [job.job_id]  # one job, the one the client got
    rows = await gw.pool.fetch(f"SELECT job_id FROM {gw.proj}.jobs WHERE owner_id = $1", gw.alice)
    assert [r["job_id"] for r in rows] == [job.job_id]


async def test_a_non_idempotent_call_is_not_retried_after_its_request_went_out(gw, api):
    job_id = await gw.put_job(status="running")
    host, port = api.removeprefix("http://").split(":")
    with DroppingProxy(host, int(port)) as proxy:
        proxy.cut_responses(b"/retry ", after_bytes=0, times=1)
        async with AsyncClient(proxy.url, gw.alice_key) as alice:
            with pytest.raises(ConnectionFailed):
                await alice.retry(job_id)  # it may have made a job: the caller decides, not the SDK
        assert len(proxy.heads_with(b"/retry ")) == 1


async def _publish(gw: Any, job_id: str, files: dict[str, bytes], corrupt: set[str] = frozenset()) -> None:
    refs = []
    for name, data in files.items():
        ref = await gw.store.put_bytes(f"jobs/{job_id}/artifacts/{name}", data)
        sha = ref.sha256 if name not in corrupt else hashlib.sha256(b"something else").hexdigest()
        refs.append(
            {
                "name": ref.name,
                "key": ref.key,
                "size": ref.size,
                "sha256": sha,
                "content_type": ref.content_type,
            }
        )
    await gw.put_job(job_id, status="completed", stage="completed", artifacts=refs)


async def test_download_is_verified_atomic_and_skips_intact_files(gw, api, tmp_path):
    job_id = "dl" + gw.alice[:6] + "0" * 24
    files = {
        "market_curves.json": json.dumps({"m0": [0.5, 0.6]}).encode(),
        "posts.json": json.dumps([{"id": i, "text": "x" * 200} for i in range(500)]).encode(),
        "actions.jsonl": b'{"a": 1}\n' * 1000,
    }
    await _publish(gw, job_id, files)
    dest = tmp_path / "run"
    async with AsyncClient(api, gw.alice_key) as alice:
        got = await alice.download(job_id, dest)
        assert sorted(f.name for f in got) == sorted(files) and not any(f.skipped for f in got)
        for name, data in files.items():
            assert (dest / name).read_bytes() == data
        assert all(f.skipped for f in await alice.download(job_id, dest))  # intact: not fetched again
        # A file changed on disk (same size) and one removed are fetched again; the others are not.
        damaged = bytearray((dest / "posts.json").read_bytes())
        damaged[100] ^= 0xFF
        (dest / "posts.json").write_bytes(bytes(damaged))
        (dest / "actions.jsonl").unlink()
        again = {f.name: f.skipped for f in await alice.download(job_id, dest)}
        assert again == {"market_curves.json": True, "posts.json": False, "actions.jsonl": False}
        assert (dest / "posts.json").read_bytes() == files["posts.json"]
        assert sorted(p.name for p in dest.iterdir()) == sorted(files)  # no temporary file left
    async with AsyncClient(api, gw.bob_key) as bob:
        with pytest.raises(NotFound):
            await bob.download(job_id, tmp_path / "bob")


async def test_a_file_that_does_not_match_its_sha256_is_never_left_in_place(gw, api, tmp_path):
    job_id = "bad" + gw.alice[:5] + "0" * 24
    await _publish(
        gw, job_id, {"good.json": b"[1, 2, 3]", "tampered.json": b"[4, 5, 6]"}, corrupt={"tampered.json"}
    )
    dest = tmp_path / "run"
    async with AsyncClient(api, gw.alice_key, retry=RetryPolicy(attempts=2, backoff_s=0.01)) as alice:
        with pytest.raises(IntegrityError) as err:
            await alice.download(job_id, dest)
        assert err.value.code == "integrity_error" and "tampered.json" in err.value.detail
    assert sorted(p.name for p in dest.iterdir()) == ["good.json"]


async def test_a_presigned_url_that_expired_is_asked_for_again(gw, api, tmp_path, monkeypatch):
    """The object store refuses an expired URL (403): the download lists the files again and uses the
    fresh URL, once, instead of failing the file."""
    job_id = "exp" + gw.alice[:5] + "0" * 24
    await _publish(gw, job_id, {"posts.json": b"[1, 2, 3]"})
    gw.app.state.ctx.presign_expires_s = 1
    async with AsyncClient(api, gw.alice_key, retry=RetryPolicy(attempts=3, backoff_s=0.01)) as alice:
        fetch, listings, calls = alice._fetch_verified, alice.sim_data, []

        async def late_first_fetch(f, path):
            calls.append(f.url)
            if len(calls) == 2:  # wait until the object store refuses the listing's URL
                async with httpx.AsyncClient() as http:
                    for _ in range(100):
                        if (await http.get(f.url)).status_code == 403:
                            break
                        await asyncio.sleep(0.1)
            await fetch(f, path)

        async def counted_listing(job):
            calls.append("listing")
            return await listings(job)

        monkeypatch.setattr(alice, "_fetch_verified", late_first_fetch)
        monkeypatch.setattr(alice, "sim_data", counted_listing)
        got = await alice.download(job_id, tmp_path / "run")
        assert [f.name for f in got] == ["posts.json"] and (
            tmp_path / "run" / "posts.json"
        ).read_bytes() == b"[1, 2, 3]"
        assert calls[0] == "listing" and calls[2] == "listing" and calls[1] != calls[3]  # a fresh URL
        assert alice.retries == 1


async def test_unsafe_file_names_from_the_server_are_refused(gw, api, tmp_path):
    job_id = "evil" + gw.alice[:4] + "0" * 24
    ref = await gw.store.put_bytes(f"jobs/{job_id}/x", b"pwned")
    await gw.put_job(
        job_id,
        status="completed",
        artifacts=[{"name": "../../escape.txt", "key": ref.key, "size": ref.size, "sha256": ref.sha256}],
    )
    async with AsyncClient(api, gw.alice_key) as alice:
        with pytest.raises(Exception, match="unsafe file name"):
            await alice.download(job_id, tmp_path / "run")
    assert not (tmp_path / "escape.txt").exists()


async def test_the_blocking_client_does_the_same(gw, api, tmp_path):
    job_id = "sync" + gw.alice[:4] + "0" * 24
    await _publish(gw, job_id, {"a.json": b"{}"})

    def blocking() -> tuple[Job, list[Path]]:
        with Client(api, gw.alice_key) as alice:
            job = alice.create(SEED, GOAL, policy="heuristic", random_seed=9)
            paths = [f.path for f in alice.download(job_id, tmp_path / "s")]
            assert [j.job_id for j in alice.list(per_page=1)][:2] == [
                j.job_id for j in alice.page(per_page=2).jobs
            ]
            with pytest.raises(NotFound):
                alice.report(job_id)
            return alice.get(job.job_id), paths

    job, paths = await asyncio.to_thread(blocking)  # the gateway's responder runs on this loop
    assert job.goal == GOAL and [p.name for p in paths] == ["a.json"]


async def test_wait_times_out_and_close_stops_a_wait_in_flight(gw, api):
    job_id = await gw.put_job(status="running", stage="simulating")  # no events: the stream only pings
    async with AsyncClient(api, gw.alice_key) as alice:
        with pytest.raises(WaitTimeout) as err:
            await alice.wait(job_id, timeout=1.0, progress=False)
        assert err.value.code == "wait_timeout"
    client = Client(api, gw.alice_key)
    outcome: dict[str, BaseException] = {}

    def waiter() -> None:
        try:
            client.wait(job_id, progress=False)
        except BaseException as exc:  # whatever close() ends it with
            outcome["exc"] = exc

    thread = threading.Thread(target=waiter)
    thread.start()
    await asyncio.sleep(1.0)
    await asyncio.to_thread(client.close)  # must not wait for the job (which never ends)
    await asyncio.to_thread(thread.join, 30)
    assert not thread.is_alive() and "exc" in outcome
