"""Recovery in seconds: every consumer has a short ack wait and keeps long work alive with progress
acknowledgements, so a message held by a process that was SIGKILLed goes to another one after a few
seconds instead of a minute, and a handler that works for many ack waits is not redelivered meanwhile.

Real NATS (the session's server) and real processes: the killed consumer is a child Python process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import uuid

import pytest

from contracts.events import RunProgressed, new_event
from contracts.subjects import JOB_STREAM
from services.kit.bus import ACK_WAIT_S

pytestmark = pytest.mark.integration

# A consumer that takes one message of its job, says so, and never finishes with it.
HOLDER = textwrap.dedent("""
    import asyncio, sys
    from services.kit.bus import Bus
    from services.kit.settings import NatsLogin

    async def main(url, user, password, durable, job):
        bus = await Bus.connect(url, name="holder", login=NatsLogin(user=user, password=password))

        async def handler(event, delivery):
            if event.job_id == job:
                print("holding", delivery.num_delivered, flush=True)
                await asyncio.Event().wait()

        await bus.consume(durable, ["RunProgressed"], handler, deliver_new=True)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main(*sys.argv[1:]))
""")


def test_the_default_ack_wait_is_seconds_not_a_minute() -> None:
    assert ACK_WAIT_S <= 10


async def test_a_message_held_by_a_killed_consumer_goes_to_another_one(bus, settings) -> None:
    durable = f"ack-{uuid.uuid4().hex[:8]}"
    job = uuid.uuid4().hex
    login = settings.nats_login("admin")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        settings.nats_url,
        login.user,
        login.password,
        durable,
        job,
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
        info = await bus.js.consumer_info(JOB_STREAM, durable)
        assert info.config.ack_wait == ACK_WAIT_S  # what bounds the wait below
        await bus.publish(new_event(RunProgressed, job, run_id="r", round=1, rounds=3))
        assert (await asyncio.wait_for(child.stdout.readline(), 30)).strip() == b"holding 1"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    got: asyncio.Queue[int] = asyncio.Queue()

    async def handler(event, delivery) -> None:
        if event.job_id == job:
            got.put_nowait(delivery.num_delivered)

    task = await bus.consume(durable, ["RunProgressed"], handler, deliver_new=True)
    try:
        # The kill gave no nak: the server hands the message on once the short ack wait has passed.
        assert await asyncio.wait_for(got.get(), 45) == 2
    finally:
        task.cancel()
        await bus.js.delete_consumer(JOB_STREAM, durable)


async def test_long_work_is_kept_alive_past_many_ack_waits(bus) -> None:
    durable = f"alive-{uuid.uuid4().hex[:8]}"
    job = uuid.uuid4().hex
    deliveries: list[int] = []
    done = asyncio.Event()

    async def handler(event, delivery) -> None:
        if event.job_id != job:
            return
        deliveries.append(delivery.num_delivered)
        await asyncio.sleep(5.0)  # five ack waits of this consumer
        done.set()

    task = await bus.consume(durable, ["RunProgressed"], handler, ack_wait=1.0, deliver_new=True)
    try:
        await bus.publish(new_event(RunProgressed, job, run_id="r", round=1, rounds=3))
        await asyncio.wait_for(done.wait(), 60)
        await asyncio.sleep(2.0)  # a redelivery, had there been one, would show up here
        assert deliveries == [1]
        info = await bus.js.consumer_info(JOB_STREAM, durable)
        assert info.num_ack_pending == 0 and info.num_redelivered == 0
    finally:
        task.cancel()
        await bus.js.delete_consumer(JOB_STREAM, durable)
