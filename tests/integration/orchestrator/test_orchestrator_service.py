"""The orchestrator as a running service: commands over NATS, events in and out of JetStream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio

from contracts.commands import CancelJob, CommandReply, CreateJob, LiveJobsQuery
from contracts.subjects import CMD_CANCEL_JOB, CMD_CREATE_JOB, CMD_LIVE_JOBS
from services.orchestrator.main import OrchestratorOptions, rebuild_projections, serve
from services.orchestrator.projection import JobsProjection
from tests.integration.orchestrator.orch_helpers import SPEC, happy_path, new_job_id, pod, running

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def service(settings, orchestrator_options) -> AsyncIterator[OrchestratorOptions]:
    opts = orchestrator_options(pool_size=2)
    async with running(settings, opts):
        yield opts


async def _request(bus, subject, cmd) -> CommandReply:
    for _ in range(50):  # the service subscribes a moment after it starts
        try:
            return await bus.request(subject, cmd, CommandReply, timeout=5.0)
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError(f"no reply on {subject}")


async def _wait_for_types(bus, job_id, expected, timeout=10.0) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        types = [e.type for _, e in await bus.job_events(job_id)]
        if all(types.count(t) >= n for t, n in expected.items()) or loop.time() > deadline:
            return types
        await asyncio.sleep(0.1)


async def _row_shows(pg_pool, opts, job_id, *, round, prices, timeout=10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        row = await pg_pool.fetchrow(
            f'SELECT round, prices::text AS prices FROM "{opts.projections_schema}".jobs WHERE job_id=$1',
            job_id,
        )
        if (row["round"], row["prices"]) == (round, prices) or loop.time() > deadline:
            return (row["round"], row["prices"]) == (round, prices)
        await asyncio.sleep(0.1)


async def test_a_job_runs_its_whole_saga_through_the_bus(service, bus, settings, pg_pool):
    job_id = new_job_id()
    reply = await _request(bus, CMD_CREATE_JOB, CreateJob(job_id=job_id, owner_id="u1", spec=SPEC))
    assert reply.ok and reply.job["status"] == "provisioning" and reply.job["attempt"] == 1
    # read-your-writes: the row is in the projection when the reply arrives
    row = await pg_pool.fetchrow(
        f'SELECT status, owner_id FROM "{service.projections_schema}".jobs WHERE job_id=$1', job_id
    )
    assert row["status"] == "provisioning" and row["owner_id"] == "u1"
    again = await _request(bus, CMD_CREATE_JOB, CreateJob(job_id=job_id, owner_id="u1", spec=SPEC))
    assert again.ok and again.job["job_id"] == job_id and again.job["version"] == reply.job["version"]

    await _wait_for_types(bus, job_id, {"PodRequested": 1})
    for event in happy_path(job_id):
        await bus.publish(event)
        if event.type == "PodReady":
            assert "RunRequested" in await _wait_for_types(bus, job_id, {"RunRequested": 1})
        if event.type == "RunProgressed":  # telemetry: on the row straight from the bus
            assert await _row_shows(pg_pool, service, job_id, round=2, prices='{"q": 0.6}')
        if event.type == "RunCompleted":
            await _wait_for_types(bus, job_id, {"ReportRequested": 1})
    types = await _wait_for_types(bus, job_id, {"JobCompleted": 1})
    assert types.count("JobCreated") == 1 and types.count("PodRequested") == 1
    assert types.index("ReportRequested") < types.index("JobCompleted")
    assert types.index("PodTerminated") < types.index("JobCompleted")  # no pod outlives its job
    completed = [e for _, e in await bus.job_events(job_id) if e.type == "JobCompleted"][0]
    assert completed.final_prices == {"q": 0.7} and completed.verdict == "likely"
    assert completed.correlation_id == job_id and completed.causation_id is not None

    live = await _request(bus, CMD_LIVE_JOBS, LiveJobsQuery(job_ids=[job_id, "nope"]))
    assert live.ok and live.live == []
    cancel = await _request(bus, CMD_CANCEL_JOB, CancelJob(job_id=job_id))
    assert cancel.ok and cancel.code == "already_finished" and cancel.job["status"] == "completed"

    stored = await pg_pool.fetchval(
        f'SELECT count(*) FROM "{service.es_schema}".orchestrator_events WHERE topic LIKE $1', "%Progress%"
    )
    assert stored == 0  # progress is not on the aggregate
    assert await _row_shows(pg_pool, service, job_id, round=4, prices='{"q": 0.7}')  # final once completed

    # the CLI's rebuild gives back the same table
    projection = JobsProjection(None, pool=pg_pool, schema=service.projections_schema)  # type: ignore[arg-type]
    before = await projection.all_rows()
    assert await rebuild_projections(settings, service) >= 1
    assert await projection.all_rows() == before


async def test_cancel_tears_the_pod_down_then_cancels(service, bus):
    job_id = new_job_id()
    created = await _request(bus, CMD_CREATE_JOB, CreateJob(job_id=job_id, owner_id="u2", spec=SPEC))
    assert created.ok
    reply = await _request(bus, CMD_CANCEL_JOB, CancelJob(job_id=job_id, requested_by="u2"))
    assert reply.ok and reply.job["status"] == "cancelling"
    live = await _request(bus, CMD_LIVE_JOBS, LiveJobsQuery(job_ids=[job_id]))
    assert live.live == [job_id]
    await _wait_for_types(bus, job_id, {"PodTeardownRequested": 1})
    terminated = [e for e in happy_path(job_id) if e.type == "PodTerminated"][0]
    await bus.publish(terminated)
    types = await _wait_for_types(bus, job_id, {"JobCancelled": 1})
    assert types[-1] == "JobCancelled" and "RunRequested" not in types
    teardown = [e for _, e in await bus.job_events(job_id) if e.type == "PodTeardownRequested"][0]
    assert teardown.pod_name == pod(job_id)


async def test_bad_commands_get_clear_replies(service, bus):
    bad = msgspec.structs.replace(SPEC, goal="?")
    reply = await _request(bus, CMD_CREATE_JOB, CreateJob(job_id=new_job_id(), owner_id="u", spec=bad))
    assert not reply.ok and reply.code == "invalid_spec" and reply.error.startswith("goal:")
    raw = await bus.nc.request(
        CMD_CREATE_JOB, b'{"job_id": "x", "owner_id": "u", "spec": {"agents": 0}}', timeout=5
    )
    decoded = msgspec.json.decode(raw.data, type=CommandReply)
    assert not decoded.ok and decoded.code == "invalid_spec"
    missing = await _request(bus, CMD_CANCEL_JOB, CancelJob(job_id=new_job_id()))
    assert not missing.ok and missing.code == "not_found"
    job_id = new_job_id()
    assert (await _request(bus, CMD_CREATE_JOB, CreateJob(job_id=job_id, owner_id="a", spec=SPEC))).ok
    other = await _request(bus, CMD_CREATE_JOB, CreateJob(job_id=job_id, owner_id="b", spec=SPEC))
    assert not other.ok and other.code == "conflict"


async def test_a_second_instance_and_an_abrupt_stop_duplicate_nothing(service, bus, settings):
    job_id = new_job_id()
    assert (await _request(bus, CMD_CREATE_JOB, CreateJob(job_id=job_id, owner_id="u", spec=SPEC))).ok
    await _wait_for_types(bus, job_id, {"PodRequested": 1})
    # a second instance with the same names (a restarted process) runs beside the fixture's one and
    # is then stopped abruptly; neither duplicates work
    stop = asyncio.Event()
    second = asyncio.create_task(
        serve(settings, stop, msgspec.structs.replace(service, serve_commands=False))
    )
    for event in happy_path(job_id)[:2]:
        await bus.publish(event)
    types = await _wait_for_types(bus, job_id, {"RunRequested": 1})
    second.cancel()
    with contextlib.suppress(BaseException):
        await second
    # The marker: the job moves on (RunCompleted -> ReportRequested), so the events of the first steps
    # have all been handled and published by then; a duplicate of them would stand in the timeline.
    for event in happy_path(job_id)[2:5]:
        await bus.publish(event)
    types = await _wait_for_types(bus, job_id, {"ReportRequested": 1}, timeout=30)
    assert "ReportRequested" in types, types
    assert types.count("RunRequested") == 1 and types.count("JobCreated") == 1, types


async def test_the_orchestrator_stops_with_an_error_when_its_consumer_is_gone(
    settings, bus, orchestrator_options
):
    from contracts.subjects import JOB_STREAM
    from services.kit.service import ServiceTaskEnded

    opts = orchestrator_options(serve_commands=False, pool_size=2)
    task = asyncio.create_task(serve(settings, asyncio.Event(), opts))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:  # serving: its inbound consumer exists
            try:
                await bus.js.consumer_info(JOB_STREAM, opts.consumer)
                break
            except Exception:
                assert not task.done(), task.exception()
                assert loop.time() < deadline, "the orchestrator's consumer never appeared"
                await asyncio.sleep(0.1)
        await bus.js.delete_consumer(JOB_STREAM, opts.consumer)
        with pytest.raises(ServiceTaskEnded, match=f"consume:{opts.consumer}"):
            await asyncio.wait_for(task, 60)  # not a quiet life without its inbound events
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
