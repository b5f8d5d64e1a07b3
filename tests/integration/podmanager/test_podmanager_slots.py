"""Following long runs never holds up lifecycle work: with every run slot taken, a cancel's teardown and
a new pod still go through while the runs go on.

The pod manager runs as `simswarm serve podmanager` does (`services.podmanager.main.serve`) on the real
bus, object store and Postgres, with real worker processes; its run slots are set to one, and the run
that fills it is a scripted worker slow enough to be still going when the assertions are made.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts.subjects import JOB_STREAM
from services.podmanager.main import PodManagerOptions, serve
from services.podmanager.naming import pod_name, run_id
from services.podmanager.providers.base import terminate_all
from services.podmanager.providers.local import LocalProvider
from tests.integration.podmanager.harness import SCRIPTED_WORKER, Jobs, local_provider

pytestmark = pytest.mark.integration

RUN_FINISHED = ("RunCompleted", "RunFailed")


async def _consumer_exists(bus: Any, stream: str, name: str, timeout: float = 60.0) -> None:
    """Wait until the service has made its consumer (start-up runs in the background)."""
    from nats.js.errors import NotFoundError

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await bus.js.consumer_info(stream, name)
            return
        except NotFoundError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def podmanager(
    settings: Any,
    bus: Any,
    provider: LocalProvider,
    max_runs: int,
    *,
    durable: str | None = None,
    keep_pods: bool = False,
) -> AsyncIterator[asyncio.Task[None]]:
    """`serve` until the block ends (a clean stop, as on SIGTERM); then its pods are removed unless kept."""
    opts = PodManagerOptions(
        durable=durable or f"pm-{uuid.uuid4().hex[:8]}", deliver_new=True, max_runs=max_runs
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, opts, provider=provider))
    for name in (opts.durable, f"{opts.durable}-provision", f"{opts.durable}-teardown"):
        await _consumer_exists(bus, JOB_STREAM, name)  # made at start-up: none misses the test's first event
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 30)
        if not keep_pods:
            await terminate_all(provider)


async def test_with_every_run_slot_taken_a_cancel_still_tears_its_pod_down(settings: Any, bus: Any) -> None:
    provider = local_provider(settings, SCRIPTED_WORKER, round_s=0.5)
    jobs = Jobs(bus=bus)
    async with podmanager(settings, bus, provider, max_runs=1) as task:
        long_run, to_cancel, later = await jobs.job(rounds=400), await jobs.job(), await jobs.job()
        for job in (long_run, to_cancel):
            await jobs.request_pod(job)
        for job in (long_run, to_cancel):
            await jobs.wait_for(job, "PodReady")

        await jobs.request_run(long_run)  # takes the only run slot, for minutes
        await jobs.wait_for(long_run, "RunProgressed")

        await jobs.teardown(to_cancel)
        terminated = await jobs.wait_for(to_cancel, "PodTerminated")
        assert terminated.pod_name == pod_name(to_cancel, 1)
        assert await provider.find(pod_name(to_cancel, 1)) is None
        await jobs.request_pod(later)  # and a new pod is still provisioned
        await jobs.wait_for(later, "PodReady")
        # all of that happened while the run that holds the slot was still going
        assert not set(RUN_FINISHED) & set(await jobs.types(long_run))
        assert not task.done()

        await jobs.teardown(long_run)
        await jobs.wait_for(long_run, "PodTerminated")
        assert not set(RUN_FINISHED) & set(await jobs.types(long_run))  # a teardown on purpose is no failure


async def test_a_restarted_podmanager_reattaches_to_the_run_in_flight(settings: Any, bus: Any) -> None:
    """The RunRequested being followed is not acked, so the next process gets it and follows the run on."""
    provider = local_provider(settings, SCRIPTED_WORKER, round_s=0.3)
    jobs = Jobs(bus=bus)
    durable = f"pm-{uuid.uuid4().hex[:8]}"
    rounds = 40
    try:
        async with podmanager(settings, bus, provider, max_runs=2, durable=durable, keep_pods=True):
            job = await jobs.job(rounds=rounds)
            await jobs.request_pod(job)
            await jobs.wait_for(job, "PodReady")
            await jobs.request_run(job)
            await jobs.wait_for(job, "RunProgressed")
        # stopped mid-run; the pod goes on running
        pod = await provider.find(pod_name(job, 1))
        assert pod is not None and pod.status == "running"
        assert not set(RUN_FINISHED) & set(await jobs.types(job))

        async with podmanager(settings, bus, provider, max_runs=2, durable=durable):
            done = await jobs.wait_for(job, "RunCompleted", timeout=150)
            events = [ev for _seq, ev in await bus.job_events(job)]
            types = [ev.type for ev in events]
            assert types.count("RunCompleted") == 1 and "RunFailed" not in types
            assert types.count("RunStarted") == 1  # re-following republished it under the same id: dropped
            assert sorted(ev.round for ev in events if ev.type == "RunProgressed") == list(
                range(1, rounds + 1)
            )
            assert done.run_id == run_id(job, 1)
    finally:
        await terminate_all(provider)


async def test_the_pod_manager_stops_with_an_error_when_a_consumer_is_gone(settings: Any, bus: Any) -> None:
    from services.kit.service import ServiceTaskEnded

    provider = local_provider(settings, SCRIPTED_WORKER)
    durable = f"pm-{uuid.uuid4().hex[:8]}"
    async with podmanager(settings, bus, provider, max_runs=1, durable=durable) as task:
        await _consumer_exists(bus, JOB_STREAM, f"{durable}-teardown")  # serving (made at start-up)
        await bus.js.delete_consumer(JOB_STREAM, f"{durable}-teardown")
        with pytest.raises(ServiceTaskEnded, match=f"consume:{durable}-teardown"):
            await asyncio.wait_for(asyncio.shield(task), 60)  # it would never tear a pod down again
