"""Helpers for the reporter/graph integration tests: artifacts in S3, a private service, waiting on events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import nats.js.errors

from contracts.artifacts import ENGINE_ARTIFACTS, ArtifactRef
from contracts.events import AnyEvent
from contracts.objects import artifact_key
from contracts.subjects import JOB_STREAM
from services.kit.bus import Bus
from services.kit.objectstore import ObjectStore
from services.kit.settings import Settings

ServeFn = Callable[..., Awaitable[None]]


def engine_files(out_dir: Path) -> dict[str, bytes]:
    """A real (small, heuristic) engine run's artifact files."""
    import engine
    from contracts.worker import RunSpec

    spec = RunSpec(
        seed_text=(
            "The city council debates a congestion charge. Mayor Lena Ortiz backs it; the Retail "
            "Association and the Drivers Union oppose it; Clean Air Now campaigns for it; economists "
            "at the Metro Institute warn about costs for commuters."
        ),
        goal="Will the congestion charge be approved by the council?",
        agents=12,
        rounds=6,
        policy="heuristic",
        forecast_days=28,
    )
    engine.simulate(spec, out_dir)
    return {name: (out_dir / name).read_bytes() for name in ENGINE_ARTIFACTS if (out_dir / name).exists()}


async def upload(store: ObjectStore, files: dict[str, bytes]) -> tuple[str, list[ArtifactRef]]:
    """A new job's id, and its artifact files put where the engine's upload puts them (real digests)."""
    job_id = uuid.uuid4().hex
    return job_id, [
        await store.put_bytes(artifact_key(job_id, name), data) for name, data in sorted(files.items())
    ]


async def wait_for_consumer(bus: Bus, durable: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await bus.js.consumer_info(JOB_STREAM, durable)
            return
        except nats.js.errors.NotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def wait_until_idle(bus: Bus, durable: str, after_seq: int, timeout: float = 30.0) -> None:
    """Until the consumer has acked everything up to and including stream sequence `after_seq`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await bus.js.consumer_info(JOB_STREAM, durable)
        if info.ack_floor.stream_seq >= after_seq and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"consumer {durable} did not finish seq {after_seq}")


async def wait_for_event(bus: Bus, job_id: str, types: set[str], timeout: float = 45.0) -> AnyEvent:
    """The first event of one of `types` in the job's timeline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, ev in await bus.job_events(job_id):
            if ev.type in types:
                return ev
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no {types} for job {job_id} in {timeout}s")


@contextlib.asynccontextmanager
async def running(serve: ServeFn, settings: Settings, bus: Bus, **kw: Any) -> AsyncIterator[str]:
    """Run a service's serve() as a task on a private consumer that sees only new events; yields its name."""
    durable = f"t{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, durable=durable, deliver_new=True, **kw))
    try:
        await wait_for_consumer(bus, durable)
        yield durable
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        with contextlib.suppress(Exception):
            await bus.js.delete_consumer(JOB_STREAM, durable)


def die_once(marker: str) -> int:
    """In a render process: die abruptly the first time (creating `marker`), return the pid after."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        os._exit(1)
    return os.getpid()
