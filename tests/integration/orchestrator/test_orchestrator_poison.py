"""No event, however it got into the log, may wedge the orchestrator, its relay or its projection.

Each test puts a poison on the log directly, bypassing the gateway's validation: a job written into
the event store with a NUL in its goal and market question (PostgreSQL cannot store NUL in text or
jsonb), one whose agent count overflows the projection's integer column, one whose stored JobCreated
cannot even be applied nor published (its timeout is not a number), and an inbound event on JetStream whose
value the projection cannot store. Then: other jobs still go through, a restart comes up, the
rebuild completes, and the bad jobs are visible as sanitized, quarantined or failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from contracts import events as ev
from contracts.commands import CommandReply, CreateJob
from contracts.spec import resolve_run
from contracts.subjects import CMD_CREATE_JOB, DEADLETTER_STREAM, deadletter_subject
from services.orchestrator import process_manager
from services.orchestrator.domain.job import Job
from services.orchestrator.main import OrchestratorOptions, create_application, rebuild_projections
from services.orchestrator.projection import JobsProjection
from tests.integration.orchestrator.orch_helpers import SPEC, new_job_id, pod, running

pytestmark = pytest.mark.integration


@pytest.fixture
def names(orchestrator_options: Any) -> OrchestratorOptions:
    return orchestrator_options(pool_size=2)


async def request_create(bus: Any, job_id: str, task: asyncio.Task[None]) -> CommandReply:
    for _ in range(100):  # the service subscribes a moment after it starts
        if task.done():
            raise AssertionError(f"the orchestrator did not come up: {task.exception()}")
        try:
            return await bus.request(
                CMD_CREATE_JOB, CreateJob(job_id=job_id, owner_id="u1", spec=SPEC), CommandReply, timeout=10.0
            )
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError("no reply to CreateJob")


async def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value or loop.time() > deadline:
            assert value, f"timed out waiting for {what}"
            return value
        await asyncio.sleep(0.2)


def write_job_directly(
    database_url: str,
    schema: str,
    job_id: str,
    *,
    goal: str | None = None,
    question: str | None = None,
    agents: int | None = None,
    timeout_s: object = None,
) -> None:
    """Save a Job aggregate (JobCreated + PodRequested) straight into the event store."""
    app = create_application(database_url, schema, pool_size=1)
    try:
        spec = msgspec.to_builtins(SPEC)
        run = msgspec.to_builtins(resolve_run(SPEC, 7))
        if goal is not None:
            spec["goal"] = goal
        if question is not None:
            run["markets"][0]["question"] = question
        if agents is not None:
            run["agents"] = agents
        now = datetime.now(UTC)
        job = Job(
            job_id=job_id, owner_id="u-poison", spec=spec, run=run, retry_of=None, at=now, traceparent=None
        )
        process_manager.start(job, now)
        if timeout_s is not None:  # the stored event only: its own mutator could not even run
            job.pending_events[0].run["timeout_s"] = timeout_s  # type: ignore[attr-defined]
        app.save(job)
    finally:
        app.close()


async def test_poison_jobs_in_the_event_store_wedge_nothing(
    settings: Any, bus: Any, pg_pool: Any, names: OrchestratorOptions
) -> None:
    opts = names
    table = f'"{opts.projections_schema}".jobs'

    async def row(job_id: str) -> dict[str, Any] | None:
        rec = await pg_pool.fetchrow(
            f"SELECT status, stage, goal, error, agents, markets::text AS markets "
            f"FROM {table} WHERE job_id = $1",
            job_id,
        )
        return dict(rec) if rec else None

    async with running(settings, opts) as task:
        first = new_job_id()
        assert (await request_create(bus, first, task)).ok

        nul, overflow, unloadable = new_job_id(), new_job_id(), new_job_id()
        await asyncio.to_thread(
            write_job_directly,
            settings.database_url,
            opts.es_schema,
            nul,
            goal="Will the\x00strike end?",
            question="Ends\x00by June?",
        )
        await asyncio.to_thread(
            write_job_directly, settings.database_url, opts.es_schema, overflow, agents=3_000_000_000
        )
        await asyncio.to_thread(
            write_job_directly, settings.database_url, opts.es_schema, unloadable, timeout_s="soon"
        )

        # a job created after the poison still goes all the way into the read model
        after = new_job_id()
        reply = await request_create(bus, after, task)
        assert reply.ok
        assert await eventually(lambda: row(after), "the later job's row")

        # NUL: stored, sanitized (U+FFFD), not lost
        stored = await eventually(lambda: row(nul), "the NUL job's row")
        assert "\x00" not in stored["goal"] and stored["goal"] == "Will the\ufffdstrike end?"
        assert "\\u0000" not in stored["markets"]
        # an unstorable value: the row is quarantined, and the job itself fails with a reason
        quarantined = await eventually(lambda: row(overflow), "the overflowing job's row")
        assert quarantined["stage"] == "quarantined" and "could not be stored" in quarantined["error"]
        await eventually(lambda: _types_if(bus, overflow, "PodTeardownRequested"), "its pod torn down")
        await bus.publish(
            ev.new_event(ev.PodTerminated, overflow, attempt=1, pod_name=pod(overflow), pod_id=None)
        )
        await eventually(lambda: _types_if(bus, overflow, "JobFailed"), "JobFailed for the quarantined job")
        assert (await row(overflow))["status"] == "failed"
        # a stored event that cannot be applied at all: set aside, visible in the quarantine table
        q = await eventually(
            lambda: pg_pool.fetchrow(
                f'SELECT job_id, reason FROM "{opts.projections_schema}".quarantine WHERE job_id = $1',
                unloadable,
            ),
            "the unloadable job in the quarantine table",
        )
        assert "could not be applied" in q["reason"]
        unloadable_row = await row(unloadable)
        assert unloadable_row is not None and unloadable_row["status"] == "failed"
        assert unloadable_row["stage"] == "quarantined"

        # the relay went on past what it could not publish: the later job's PodRequested is out
        assert await eventually(lambda: _types_if(bus, after, "PodRequested"), "the later job's PodRequested")
        dead = await bus.js.get_last_msg(DEADLETTER_STREAM, deadletter_subject(opts.consumer))
        assert dead.headers and "Simswarm-Reason" in dead.headers

        # an inbound event for the job that cannot be loaded is set aside on its first delivery (not
        # retried ten times while every other job waits behind it), and the next job's event goes through
        await bus.publish(
            ev.new_event(
                ev.PodProvisioned,
                unloadable,
                attempt=1,
                pod_name=pod(unloadable),
                pod_id="p9",
                provider="local",
            )
        )
        await bus.publish(ev.new_event(ev.PodReady, after, attempt=1, pod_name=pod(after), pod_id="p2"))
        assert await eventually(lambda: _types_if(bus, after, "RunRequested"), "the later job's RunRequested")

        async def inbound_dead_letter() -> Any:
            msg = await bus.js.get_last_msg(DEADLETTER_STREAM, deadletter_subject(opts.consumer))
            return (
                msg
                if msg.headers and msg.headers.get("Simswarm-Reason", "").startswith("not applied")
                else None
            )

        inbound_dead = await eventually(inbound_dead_letter, "the inbound event in the dead-letter stream")
        assert "cannot be loaded" in inbound_dead.headers["Simswarm-Reason"]
        assert inbound_dead.headers["Simswarm-Source-Subject"].endswith(".PodProvisioned")

    before = await JobsProjection(None, pool=pg_pool, schema=opts.projections_schema).all_rows()  # type: ignore[arg-type]

    # a restart comes up and serves again
    async with running(settings, opts) as task:
        again = new_job_id()
        assert (await request_create(bus, again, task)).ok
        assert await eventually(lambda: row(again), "a row after the restart")

    # `simswarm projections rebuild` completes and gives back the same table
    count = await rebuild_projections(settings, opts)
    assert count == len(before) + 1
    rebuilt = await JobsProjection(None, pool=pg_pool, schema=opts.projections_schema).all_rows()  # type: ignore[arg-type]
    assert [r for r in rebuilt if r["job_id"] != again] == before


async def _types_if(bus: Any, job_id: str, wanted: str) -> list[str] | None:
    types = [e.type for _, e in await bus.job_events(job_id)]
    return types if wanted in types else None


async def test_an_unstorable_value_arriving_on_jetstream_quarantines_the_row_and_fails_the_job(
    settings: Any, bus: Any, pg_pool: Any, names: OrchestratorOptions
) -> None:
    opts = names
    async with running(settings, opts) as task:
        job_id = new_job_id()
        assert (await request_create(bus, job_id, task)).ok
        await eventually(lambda: _types_if(bus, job_id, "PodRequested"), "PodRequested")
        run_id = f"{job_id}-a1"
        for event in (
            ev.new_event(
                ev.PodProvisioned, job_id, attempt=1, pod_name=pod(job_id), pod_id="p1", provider="local"
            ),
            ev.new_event(ev.PodReady, job_id, attempt=1, pod_name=pod(job_id), pod_id="p1"),
            # a round count no integer column holds (a buggy or hostile pod could send it)
            ev.new_event(ev.RunStarted, job_id, run_id=run_id, attempt=1, agents=3, rounds=2**40),
        ):
            await bus.publish(event)
        types = await eventually(
            lambda: _types_if(bus, job_id, "PodTeardownRequested"),
            "the quarantined job's pod being torn down",
        )
        assert "RunRequested" in types
        await bus.publish(
            ev.new_event(ev.PodTerminated, job_id, attempt=1, pod_name=pod(job_id), pod_id="p1")
        )
        await eventually(lambda: _types_if(bus, job_id, "JobFailed"), "JobFailed")
        failed = [e for _, e in await bus.job_events(job_id) if e.type == "JobFailed"][0]
        assert "could not be stored" in failed.reason

        # and the orchestrator still serves everyone else
        other = new_job_id()
        assert (await request_create(bus, other, task)).ok
        assert (
            await pg_pool.fetchval(
                f'SELECT count(*) FROM "{opts.projections_schema}".jobs WHERE job_id = $1', other
            )
            == 1
        )
    # the rebuild completes over the same log
    assert await rebuild_projections(settings, opts) == 2
    rebuilt = await pg_pool.fetchrow(
        f'SELECT stage, status FROM "{opts.projections_schema}".jobs WHERE job_id = $1', job_id
    )
    assert rebuilt["status"] == "failed"
