"""The kit against the real servers: dedup on publish, durable consumers, replay, dead-letter, S3."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
import nats.js.errors
import pytest

from contracts.events import JobFailed, RunProgressed, new_event
from contracts.objects import artifact_key
from contracts.subjects import DEADLETTER_STREAM, JOB_STREAM, deadletter_subject, job_subject
from services.kit.objectstore import ObjectNotFound, ObjectStore

pytestmark = pytest.mark.integration


async def test_publish_with_same_event_id_is_stored_once(bus):
    job = uuid.uuid4().hex
    ev = new_event(RunProgressed, job, run_id="r", round=1, rounds=3)
    first = await bus.publish(ev)
    again = await bus.publish(ev)
    assert not first.duplicate and again.duplicate and again.seq == first.seq
    timeline = await bus.job_events(job)
    assert [e.event_id for _, e in timeline] == [ev.event_id]


async def test_consumer_delivers_in_order_and_retries_a_failing_handler(bus):
    job = uuid.uuid4().hex
    seen: list[int] = []
    failures = {"left": 1}
    done = asyncio.Event()

    async def handler(event, delivery):
        if event.job_id != job:
            return
        if event.round == 2 and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("transient")
        seen.append(event.round)
        if event.round == 3:
            done.set()

    durable = f"t{uuid.uuid4().hex[:10]}"
    await bus.consume(durable, ["RunProgressed"], handler, max_ack_pending=1, deliver_new=True)
    await asyncio.sleep(0.2)
    for r in (1, 2, 3):
        await bus.publish(new_event(RunProgressed, job, run_id="r", round=r, rounds=3))
    await asyncio.wait_for(done.wait(), 20)
    assert seen == [1, 2, 3]


async def test_malformed_message_is_dead_lettered_not_a_crash(bus):
    job = uuid.uuid4().hex
    got = asyncio.Event()
    seen: list[object] = []

    async def handler(event, delivery):
        if event.job_id == job:
            seen.append(event)
            got.set()

    durable = f"t{uuid.uuid4().hex[:10]}"
    await bus.consume(durable, ["JobFailed"], handler, deliver_new=True)
    await asyncio.sleep(0.2)
    bad = b'{"type":"JobFailed","nonsense":1}'
    await bus.js.publish(job_subject(job, "JobFailed"), bad, stream=JOB_STREAM)
    await bus.publish(new_event(JobFailed, job, reason="boom", stage="run"))
    await asyncio.wait_for(got.wait(), 10)  # the good one after the bad one still arrives
    # the handler saw only the good event; the bad payload is set aside, with why and from where
    assert [(type(e).__name__, e.reason) for e in seen] == [("JobFailed", "boom")]
    dead = await _dead_letter_of(bus, job_subject(job, "JobFailed"))
    assert dead.data == bad
    assert dead.headers["Simswarm-Reason"].startswith("malformed")


async def _dead_letter_of(bus, source_subject: str, deadline_s: float = 10.0):
    """The last message the bus dead-lettered from `source_subject`, waiting for it up to a deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            msg = await bus.js.get_last_msg(DEADLETTER_STREAM, deadletter_subject(bus.name))
        except nats.js.errors.NotFoundError:
            msg = None
        if msg is not None and (msg.headers or {}).get("Simswarm-Source-Subject") == source_subject:
            return msg
        assert loop.time() < end, f"nothing dead-lettered from {source_subject}"
        await asyncio.sleep(0.1)


async def test_follow_job_resumes_after_a_sequence(bus):
    job = uuid.uuid4().hex
    acks = [
        await bus.publish(new_event(RunProgressed, job, run_id="r", round=r, rounds=3)) for r in (1, 2, 3)
    ]
    got = []
    async for _seq, ev in bus.follow_job(job, after_seq=acks[0].seq):
        got.append(ev.round)
        if len(got) == 2:
            break
    assert got == [2, 3]
    assert (await bus.last_event(job, "RunProgressed")).round == 3
    assert await bus.last_event(job, "JobCreated") is None


async def test_object_store_round_trip_and_presigned_urls(store):
    key = artifact_key(uuid.uuid4().hex, "posts.json")
    data = b'{"hello": "world"}'
    ref = await store.put_bytes(key, data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    assert await store.get_bytes(key) == data
    async with httpx.AsyncClient() as client:
        put_key = key + ".2"
        r = await client.put(await store.presign_put(put_key), content=data)
        assert r.status_code == 200
        r = await client.get(await store.presign_get(put_key))
        assert r.content == data
        tampered = (await store.presign_get(put_key)).replace("posts.json.2", "posts.json")
        assert (await client.get(tampered)).status_code == 403
    with pytest.raises(ObjectNotFound):
        await store.get_bytes(key + ".missing")


async def test_object_store_keeps_one_client_until_closed(settings):
    async with ObjectStore(settings) as store:
        await store.ensure_bucket()
        key = artifact_key(uuid.uuid4().hex, "a.json")
        first = await store._shared_client()
        await store.put_bytes(key, b"{}")
        await asyncio.gather(*(store.presign_get(key) for _ in range(5)), store.get_bytes(key))
        assert await store._shared_client() is first  # every call above went through the one client
        await store.close()
        assert await store.get_bytes(key) == b"{}"  # a closed store opens a new client when used again
        assert await store._shared_client() is not first


async def test_a_publish_the_stream_never_answers_is_retried_then_named(tmp_path):
    from services.kit.bus import Bus, BusUnavailable
    from simswarm.stack import NatsServer

    server = await asyncio.to_thread(NatsServer(tmp_path / "nats").start)  # no streams: nobody answers
    try:
        lonely = await Bus.connect(server.url, name="lonely")
        try:
            job = uuid.uuid4().hex
            with pytest.raises(BusUnavailable, match=f"publishing JobFailed for job {job} failed"):
                await lonely.publish(new_event(JobFailed, job, reason="r", stage="run"), retries=2)
        finally:
            await lonely.close()
    finally:
        await asyncio.to_thread(server.stop)
