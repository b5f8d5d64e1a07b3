"""The pod manager with the local provider, on the real bus, object store and Postgres.

Pods are real worker processes: `python -m engine.worker` for provisioning, health and teardown, and
for runs the same worker app with a scripted simulation (tests.fakes.podworker) whose pace the test
sets (so a worker can be killed mid-run) unless the real engine is available.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from contracts.artifacts import ENGINE_ARTIFACTS
from contracts.commands import CommandReply, LiveJobsQuery
from contracts.events import Event, PodTeardownRequested, deterministic_event_id, new_event
from contracts.objects import artifact_key
from services.kit.procs import alive
from services.podmanager.handlers import HANDLED, PodManager
from services.podmanager.naming import pod_name
from services.podmanager.pods_repo import PodRepository
from services.podmanager.providers.base import terminate_all
from services.podmanager.providers.local import LocalProvider
from services.podmanager.reaper import Reaper
from tests.integration.podmanager.harness import REAL_WORKER, SCRIPTED_WORKER, Jobs, local_provider

pytestmark = pytest.mark.integration


@dataclass(kw_only=True)
class Harness(Jobs):
    store: Any
    repo: PodRepository
    provider: LocalProvider
    manager: PodManager
    handled: set[str] = field(default_factory=set)  # ids of the events the manager has finished handling

    async def wait_handled(self, event: Event, timeout: float = 30.0) -> None:
        """Until the manager has finished handling `event`: what it would publish for it is published."""
        await until(lambda: event.event_id in self.handled, f"{event.type} {event.event_id} handled", timeout)

    def pid(self, job_id: str, attempt: int = 1) -> int:
        raw = (self.provider.registry / f"{pod_name(job_id, attempt)}.json").read_bytes()
        return int(msgspec.json.decode(raw)["pid"])


async def make_harness(
    settings: Any,
    bus: Any,
    store: Any,
    pg_pool: Any,
    command: list[str],
    round_s: float | None = None,
) -> AsyncIterator[Harness]:
    provider = local_provider(settings, command, round_s)
    repo = PodRepository(pg_pool)
    await repo.migrate()
    manager = PodManager(
        bus=bus,
        store=store,
        pods=repo,
        provider=provider,
        health_timeout_s=30.0,
        run_lost_after_s=5.0,
        poll_wait_s=2.0,
    )
    h = Harness(bus=bus, store=store, repo=repo, provider=provider, manager=manager)

    async def only_ours(event: Any, delivery: Any) -> None:
        if event.job_id in h.specs:  # the stream holds other tests' jobs too
            await manager.handle(event, delivery)
            h.handled.add(event.event_id)

    consumer = await bus.consume(f"pm-test-{uuid.uuid4().hex[:8]}", HANDLED, only_ours, deliver_new=True)
    try:
        yield h
    finally:
        consumer.cancel()
        await terminate_all(provider)
        await manager.aclose()


def engine_available() -> bool:
    import engine

    return hasattr(engine, "simulate")


@pytest_asyncio.fixture
async def real(settings: Any, bus: Any, store: Any, pg_pool: Any) -> AsyncIterator[Harness]:
    async for h in make_harness(settings, bus, store, pg_pool, REAL_WORKER):
        yield h


@pytest_asyncio.fixture
async def scripted(settings: Any, bus: Any, store: Any, pg_pool: Any) -> AsyncIterator[Harness]:
    command = REAL_WORKER if engine_available() else SCRIPTED_WORKER
    async for h in make_harness(settings, bus, store, pg_pool, command, round_s=0.05):
        yield h


@pytest_asyncio.fixture
async def slow(settings: Any, bus: Any, store: Any, pg_pool: Any) -> AsyncIterator[Harness]:
    async for h in make_harness(settings, bus, store, pg_pool, SCRIPTED_WORKER, round_s=0.4):
        yield h


def gone(pid: int) -> bool:
    return not alive(pid)


async def until(check: Any, what: str, timeout: float = 30.0) -> None:
    """Until `check()` is true; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        await asyncio.sleep(0.05)


async def test_repeated_pod_request_makes_one_real_worker_and_teardown_kills_it(real: Harness) -> None:
    job = await real.job()
    await real.request_pod(job)
    repeat = await real.request_pod(job)  # a repeat (new event id): same pod name, so the same pod
    ready = await real.wait_for(job, "PodReady")
    await real.wait_handled(repeat)  # the marker: whatever the repeat would publish is out by now
    types = [e.type for e in await real.events(job)]
    assert types.count("PodProvisioned") == 1 and types.count("PodReady") == 1
    pods = await real.provider.list_pods()
    assert [p.name for p in pods] == [pod_name(job, 1)] and pods[0].status == "running"
    assert ready.pod_id == pods[0].pod_id
    pid = real.pid(job)
    log_text = real.provider.log_path(pod_name(job, 1)).read_text()
    assert real.provider.endpoint(pods[0]).token not in log_text
    await real.teardown(job)
    terminated = await real.wait_for(job, "PodTerminated")
    assert terminated.billed_seconds is not None and terminated.billed_seconds > 0
    assert gone(pid) and await real.provider.list_pods() == []
    row = await real.repo.get(pod_name(job, 1))
    assert row is not None and row["state"] == "terminated"
    late = await real.request_pod(job)  # a late PodRequested for a torn-down name provisions nothing
    await real.wait_handled(late)
    assert await real.provider.list_pods() == []
    assert [e.type for e in await real.events(job)].count("PodProvisioned") == 1


async def test_run_completes_with_verified_artifacts(scripted: Harness) -> None:
    job = await scripted.job(rounds=4)
    await scripted.request_pod(job)
    await scripted.wait_for(job, "PodReady")
    await scripted.request_run(job)
    done = await scripted.wait_for(job, "RunCompleted", timeout=60)
    events = await scripted.events(job)
    rounds = [e.round for e in events if e.type == "RunProgressed"]
    assert rounds == [1, 2, 3, 4] and [e.type for e in events].count("RunStarted") == 1
    assert len(done.artifacts) == len(ENGINE_ARTIFACTS)  # every file the engine writes, each verified
    for ref in done.artifacts:
        assert ref.key == artifact_key(job, ref.name)
        data = await scripted.store.get_bytes(ref.key)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (ref.size, ref.sha256)
    for ev in events:  # no secret travels in an event
        raw = msgspec.json.encode(ev).decode()
        assert "X-Amz-Signature" not in raw and "Bearer" not in raw


async def test_a_run_requested_without_its_spec_fails_retryable_saying_why(scripted: Harness) -> None:
    """A RunRequested of an older orchestrator carries no spec: the run fails, retryable (the retry's
    RunRequested carries it), and no earlier event is read back to make up for it."""
    job = await scripted.job()
    await scripted.request_run(job, with_spec=False)
    failed = await scripted.wait_for(job, "RunFailed")
    assert failed.retryable and "carries no run spec" in failed.reason
    assert await scripted.types(job) == ["RunRequested", "RunFailed"]


async def test_worker_killed_mid_run_fails_the_run_as_retryable(slow: Harness) -> None:
    job = await slow.job(rounds=200)
    await slow.request_pod(job)
    await slow.wait_for(job, "PodReady")
    await slow.request_run(job)
    await slow.wait_for(job, "RunProgressed")
    os.killpg(slow.pid(job), signal.SIGKILL)
    failed = await slow.wait_for(job, "RunFailed", timeout=20)
    assert failed.retryable and "died" in failed.reason
    assert "RunCompleted" not in [e.type for e in await slow.events(job)]


async def test_teardown_during_a_run_stops_following_quietly(slow: Harness) -> None:
    job = await slow.job(rounds=200)
    await slow.request_pod(job)
    await slow.wait_for(job, "PodReady")
    run = await slow.request_run(job)
    await slow.wait_for(job, "RunProgressed")
    pid = slow.pid(job)
    await slow.teardown(job)
    await slow.wait_for(job, "PodTerminated")
    await until(lambda: gone(pid), f"pod process {pid} gone")
    await slow.wait_handled(run)  # the marker: the run's follower has stopped (a RunFailed would be out)
    assert "RunFailed" not in [e.type for e in await slow.events(job)]


async def test_reaper_terminates_strays_and_says_so(real: Harness) -> None:
    live_job, dead_job = uuid.uuid4().hex, uuid.uuid4().hex
    for job in (live_job, dead_job):
        await real.provider.provision(pod_name(job, 1), gpu_types=[], env={})
    subject = f"test.live.{uuid.uuid4().hex}"
    reaper = Reaper(
        bus=real.bus,
        provider=real.provider,
        pods=real.repo,
        lock=real.manager.lock,
        live_subject=subject,
        grace_s=0.0,
        request_timeout_s=1.0,
    )
    assert await reaper.sweep() == []  # nobody answers: nothing is reaped
    assert len(await real.provider.list_pods()) == 2

    async def answer(data: bytes) -> bytes:
        query = msgspec.json.decode(data, type=LiveJobsQuery)
        return msgspec.json.encode(CommandReply(ok=True, live=[j for j in query.job_ids if j == live_job]))

    await real.bus.serve(subject, "orchestrator", answer)
    dead_pid = real.pid(dead_job)
    reaped = await reaper.sweep()
    assert [s.pod.name for s in reaped] == [pod_name(dead_job, 1)]
    assert gone(dead_pid)
    assert [p.name for p in await real.provider.list_pods()] == [pod_name(live_job, 1)]
    event = await real.wait_for(dead_job, "StrayPodReaped", timeout=5)
    assert event.pod_name == pod_name(dead_job, 1) and dead_job in event.reason
    assert await real.repo.is_tombstoned(pod_name(dead_job, 1))


async def test_a_teardown_whose_reason_postgres_cannot_store_still_terminates_the_pod(real: Harness) -> None:
    """However a NUL got into an event (PostgreSQL refuses it in text), the pod is still torn down."""
    job = await real.job()
    await real.request_pod(job)
    await real.wait_for(job, "PodReady")
    pid = real.pid(job)
    await real.teardown(job, reason="cancelled\x00by someone")
    await real.wait_for(job, "PodTerminated")
    assert gone(pid) and await real.provider.list_pods() == []
    row = await real.repo.get(pod_name(job, 1))
    assert row is not None and row["state"] == "terminated" and "\x00" not in row["reason"]


async def test_a_teardown_cut_short_is_settled_by_the_reaper_with_one_pod_terminated(real: Harness) -> None:
    """A pod manager killed mid-teardown leaves the name tombstoned, the pod up and PodTeardownRequested
    un-acked. The restarted reaper's sweep removes the pod and publishes the PodTerminated the teardown
    would have (so the job need not wait for the redelivery); the redelivered teardown's own
    PodTerminated has the same id and is dropped by the stream: the job sees exactly one."""
    job = await real.job()
    await real.request_pod(job)
    await real.wait_for(job, "PodReady")
    pid = real.pid(job)
    name = pod_name(job, 1)
    await real.repo.tombstone(name, job, 1, "cancelled")  # what the killed handler had done
    reaper = Reaper(
        bus=real.bus,
        provider=real.provider,
        pods=real.repo,
        lock=real.manager.lock,
        live_subject=f"test.live.{uuid.uuid4().hex}",
        grace_s=3600.0,
        request_timeout_s=1.0,
    )
    reaped = await reaper.sweep()  # nobody says which jobs are live: tombstoned pods are reaped anyway
    assert [s.pod.name for s in reaped] == [name]
    assert gone(pid)
    terminated = await real.wait_for(job, "PodTerminated", timeout=10)
    assert (terminated.attempt, terminated.pod_name) == (1, name)
    assert terminated.event_id == deterministic_event_id(job, "PodTerminated", 1)

    # The redelivered PodTeardownRequested, handled to its end (its PodTerminated published).
    await real.manager.on_teardown_requested(
        new_event(PodTeardownRequested, job, attempt=1, pod_name=name, pod_id=None, reason="cancelled")
    )
    await real.wait_for(job, "StrayPodReaped")
    types = [e.type for e in await real.events(job)]
    assert types.count("PodTerminated") == 1, types
