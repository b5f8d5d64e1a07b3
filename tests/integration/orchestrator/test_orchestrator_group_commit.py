"""Saves of several jobs in one transaction (services.orchestrator.store): all or none, in order, and a
conflict in a group is the conflicting save's alone."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.orchestrator.application import InboundResult, OrchestratorApplication
from services.orchestrator.main import create_application
from tests.integration.orchestrator.orch_helpers import SPEC, happy_path, new_job_id

pytestmark = pytest.mark.integration


def _ready(job_id: str):
    return happy_path(job_id)[:2]  # PodProvisioned, PodReady -> RunRequested


def _feed_held(app: OrchestratorApplication, items: list[tuple[object, str, int]]) -> list[InboundResult]:
    """Process `items` on threads of their own while the group writer is held, so that every save
    queues; then let them go: they are written as one group."""
    group = app._group_commit
    with ThreadPoolExecutor(len(items)) as threads:
        with group._writer:
            futures = [threads.submit(app.process_inbound, e, up, pos) for e, up, pos in items]
            deadline = time.monotonic() + 30
            while len(group._queue) < len(items) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(group._queue) == len(items)
        return [f.result(timeout=30) for f in futures]


async def test_saves_queued_together_commit_in_one_group_in_order(orch):
    jobs = [new_job_id() for _ in range(5)]
    for job_id in jobs:
        await asyncio.to_thread(orch.app.create_job, job_id, "u1", SPEC)
        provisioned = _ready(job_id)[0]
        await asyncio.to_thread(orch.app.process_inbound, provisioned, f"jetstream:{job_id}", 1)
    before = orch.app.max_notification_id()
    items = [(_ready(j)[1], f"jetstream:{j}", 2) for j in jobs]
    results = await asyncio.to_thread(_feed_held, orch.app, items)
    assert orch.app._group_commit.groups == 1
    assert [r.event_names for r in results] == [["RunRequested"]] * 5
    # one notification each, gap-free, and every tracking row committed with its events
    assert sorted(r.notification_id for r in results) == list(range(before + 1, before + 6))
    for job_id in jobs:
        assert orch.app._tracked(f"jetstream:{job_id}", 2)
        assert orch.app.get_job(job_id).version == 4  # created, pod requested, provisioned, run requested
    again = await asyncio.to_thread(orch.app.process_inbound, items[0][0], items[0][1], 2)
    assert again.duplicate


async def test_a_conflict_in_a_group_is_that_saves_alone(orch, database_url):
    """Another replica handled one of the queued events first: the group cannot commit; the others
    are written one by one and the conflicting one is recognised as handled."""
    jobs = [new_job_id() for _ in range(3)]
    for job_id in jobs:
        await asyncio.to_thread(orch.app.create_job, job_id, "u1", SPEC)
    items = [(_ready(j)[0], f"jetstream:{j}", 1) for j in jobs]
    other = await asyncio.to_thread(create_application, database_url, orch.es_schema, 1)
    try:
        started = threading.Event()

        def race() -> list[InboundResult]:
            group = orch.app._group_commit
            with ThreadPoolExecutor(len(items)) as threads:
                with group._writer:
                    futures = [threads.submit(orch.app.process_inbound, *item) for item in items]
                    while len(group._queue) < len(items):
                        time.sleep(0.01)
                    # the other replica wins the first job's event meanwhile
                    assert not other.process_inbound(*items[0]).duplicate
                    started.set()
                return [f.result(timeout=30) for f in futures]

        results = await asyncio.to_thread(race)
    finally:
        await asyncio.to_thread(other.close)
    assert started.is_set() and orch.app._group_commit.groups == 0
    assert [r.duplicate for r in results] == [True, False, False]
    for job_id in jobs:
        job = orch.app.get_job(job_id)
        assert job.version == 3  # created, pod requested, provisioned: once each
