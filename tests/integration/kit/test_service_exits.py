"""A service whose consumer is gone exits non-zero (to be restarted) instead of running on deaf.

The consumer is killed the way it dies for real: its durable is deleted on the NATS server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest

from contracts.subjects import JOB_STREAM
from services.kit.bus import ConsumerGone
from services.kit.service import ServiceTaskEnded, run_until_stopped
from simswarm.stack import EmbeddedStack
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


async def _noop(event, delivery):
    return None


async def _wait_for_consumer(bus, durable: str, deadline_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            await bus.js.consumer_info(JOB_STREAM, durable)
            return
        except Exception:
            assert loop.time() < end, f"consumer {durable} never appeared"
            await asyncio.sleep(0.1)


async def test_a_deleted_consumer_ends_its_task_and_stops_the_service(bus):
    durable = f"t{uuid.uuid4().hex[:10]}"
    task = await bus.consume(durable, ["JobFailed"], _noop, deliver_new=True)
    await bus.js.delete_consumer(JOB_STREAM, durable)
    with pytest.raises(ServiceTaskEnded, match=f"consume:{durable}.*no longer exists"):
        await asyncio.wait_for(run_until_stopped(asyncio.Event(), task), 60)
    assert isinstance(task.exception(), ConsumerGone)


async def test_stopping_a_service_is_not_an_error(bus):
    durable = f"t{uuid.uuid4().hex[:10]}"
    task = await bus.consume(durable, ["JobFailed"], _noop, deliver_new=True)
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(run_until_stopped(stop, task), 30)
    assert task.cancelled()


SERVICE = """
import functools, sys
from services.graph.main import serve
from services.kit.service import run_service
sys.exit(run_service("graph", functools.partial(serve, durable=sys.argv[1], deliver_new=True)))
"""


async def test_a_service_process_whose_consumer_is_deleted_exits_non_zero(
    stack: EmbeddedStack, bus, tmp_path: Path
):
    settings = make_settings(stack, tmp_path / "home")
    assert stack.nats is not None and stack.s3 is not None
    env = dict(
        os.environ,
        SIMSWARM_HOME=str(settings.home),
        NATS_URL=stack.nats.url,
        S3_ENDPOINT=stack.s3_endpoint or "",
        S3_BUCKET=settings.s3_bucket,
        S3_ACCESS_KEY=stack.s3.access_key,
        S3_SECRET_KEY=stack.s3.secret_key,
        SIMSWARM_NATS_CREDENTIALS=str(settings.nats_credentials_file),
    )
    durable = f"t{uuid.uuid4().hex[:10]}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVICE,
        durable,
        env=env,
        cwd=Path(__file__).parents[3],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await _wait_for_consumer(bus, durable)
        assert proc.returncode is None  # serving
        await bus.js.delete_consumer(JOB_STREAM, durable)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode != 0, out.decode()
    assert b"no longer exists" in out
