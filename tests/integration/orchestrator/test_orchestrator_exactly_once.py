"""The orchestrator's delivery guarantees against real Postgres and NATS: inbox, outbox, projection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from contracts import events as ev
from services.orchestrator.relay import Relay
from tests.integration.orchestrator.orch_helpers import SPEC, happy_path, inbound, new_job_id, pod

pytestmark = pytest.mark.integration

UPSTREAM = "jetstream:test"


async def _feed(app, job_id, events, start_seq):
    results = []
    for i, e in enumerate(events):
        results.append(await asyncio.to_thread(app.process_inbound, e, UPSTREAM, start_seq + i))
    return results


async def test_redelivered_inbound_message_changes_nothing(orch):
    job_id = new_job_id()
    await asyncio.to_thread(orch.app.create_job, job_id, "u1", SPEC)
    ready = happy_path(job_id)[:2]
    first = await _feed(orch.app, job_id, ready, 10)
    before = orch.app.max_notification_id()
    again = await _feed(orch.app, job_id, ready, 10)  # the same messages at the same stream positions
    assert [r.duplicate for r in first] == [False, False]
    assert [r.duplicate for r in again] == [True, True]
    assert orch.app.max_notification_id() == before
    assert first[1].event_names == ["RunRequested"]
    # The same event re-published (a new stream position) is absorbed by the guarded transition.
    repeat = await asyncio.to_thread(orch.app.process_inbound, ready[1], UPSTREAM, 20)
    assert not repeat.duplicate and repeat.new_events == 0
    assert orch.app.get_job(job_id).version == 4  # created, pod requested, provisioned, run requested


async def test_relay_publishes_once_even_when_replayed_or_crashed(orch, bus, pg_pool):
    job_id = new_job_id()
    await asyncio.to_thread(orch.app.create_job, job_id, "u1", SPEC)
    relay = Relay(orch.app, bus, pool=pg_pool, schema=orch.es_schema)
    await relay.migrate()
    # A crash after the PubAcks but before the position was written ...
    last, count = await relay.publish_page(0)
    assert count == 2 and await relay.position() == 0
    # ... is followed by a restart that publishes the same page again: JetStream drops the repeats.
    assert await relay.relay_once() == 2
    assert relay.duplicates == 2 and await relay.position() == last
    # Relaying the same range twice (position rewound by an operator) adds nothing either.
    await pg_pool.execute(f'UPDATE "{orch.es_schema}".relay_position SET position = 0')
    await relay.relay_once()
    timeline = await bus.job_events(job_id)
    assert [e.type for _, e in timeline] == ["JobCreated", "PodRequested"]
    created = timeline[0][1]
    assert created.correlation_id == job_id and created.run.agents == 3
    assert timeline[1][1].pod_name == pod(job_id) and timeline[1][1].causation_id is None


async def test_a_terminal_job_stays_terminal_when_late_events_arrive(orch):
    job_id = new_job_id()
    await asyncio.to_thread(orch.app.create_job, job_id, "u1", SPEC)
    await asyncio.to_thread(orch.app.cancel_job, job_id, "u1", "changed my mind")
    term = inbound(ev.PodTerminated, job_id, attempt=1, pod_name=pod(job_id), pod_id=None)
    [done] = await _feed(orch.app, job_id, [term], 1)
    assert done.event_names == ["PodTerminationRecorded", "JobCancelled"]
    late = [e for e in happy_path(job_id) if not isinstance(e, ev.PodTerminated)]
    results = await _feed(orch.app, job_id, late, 2)
    job = orch.app.get_job(job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    # Only compensation is allowed: the pod that came up late is asked away again.
    names = [n for r in results for n in r.event_names]
    assert set(names) <= {"PodProvisionRecorded", "PodTeardownRequested"} and "PodTeardownRequested" in names
    again = await asyncio.to_thread(orch.app.cancel_job, job_id, "u1", "again")
    assert not again.changed and again.row["status"] == "cancelled"


async def test_projection_rebuilt_from_the_log_equals_the_live_one(orch, pg_pool):
    ids = [new_job_id() for _ in range(4)]
    for i, job_id in enumerate(ids):
        await asyncio.to_thread(orch.app.create_job, job_id, f"u{i % 2}", SPEC)
    seq = 100
    await _feed(orch.app, ids[0], happy_path(ids[0]), seq)  # completed
    *to_running, progressed = happy_path(ids[1])[:4]
    await _feed(orch.app, ids[1], to_running, seq + 10)  # running ...
    await asyncio.to_thread(orch.app.cancel_job, ids[2], "u0", "stop")  # cancelling
    await orch.projection.catch_up()
    assert await orch.projection.apply_progress(progressed)  # ... with progress (telemetry)
    await pg_pool.execute(
        f'UPDATE "{orch.projections_schema}".jobs SET deleted = true WHERE job_id = $1', ids[3]
    )
    live = await orch.projection.all_rows()
    assert {r["job_id"]: r["status"] for r in live} == {
        ids[0]: "completed",
        ids[1]: "running",
        ids[2]: "cancelling",
        ids[3]: "provisioning",
    }
    row0, row1 = (next(r for r in live if r["job_id"] == i) for i in ids[:2])
    assert row0["final_prices"] == {"q": 0.7} and row0["pod"]["cost"] == 0.12 and row0["report_key"]
    assert row0["round"] == 4 and row0["prices"] == {"q": 0.7}  # final once the run completed
    assert row1["round"] == 2 and row1["prices"] == {"q": 0.6}
    assert await orch.projection.rebuild() == 4
    assert await orch.projection.all_rows() == live
    # dropped outright, then rebuilt: equal but for what only the bus knew, the running job's
    # progress, which its next RunProgressed brings back
    await pg_pool.execute(f'DROP TABLE "{orch.projections_schema}".jobs')
    await orch.projection.migrate()
    rebuilt = await orch.projection.rebuild()
    assert rebuilt == 4
    without_progress = {**row1, "round": 0, "prices": {}}
    assert [{**r, "deleted": False} for r in await orch.projection.all_rows()] == [
        {**(without_progress if r["job_id"] == ids[1] else r), "deleted": False} for r in live
    ]
    assert await orch.projection.apply_progress(progressed)
    assert [{**r, "deleted": False} for r in await orch.projection.all_rows()] == [
        {**r, "deleted": False} for r in live
    ]


async def test_a_projection_of_an_older_shape_is_rebuilt_when_it_starts(orch, pg_pool):
    """A read model is rebuilt, not migrated: after an upgrade that adds a column, the table left by the
    older code lacks it and every write would fail. migrate() notices and rebuilds it from the log."""
    ids = [new_job_id() for _ in range(2)]
    for job_id in ids:
        await asyncio.to_thread(orch.app.create_job, job_id, "u0", SPEC)
    await _feed(orch.app, ids[0], happy_path(ids[0]), 200)  # completed, with a verdict
    await orch.projection.catch_up()
    table = f'"{orch.projections_schema}".jobs'
    await pg_pool.execute(f"UPDATE {table} SET deleted = true WHERE job_id = $1", ids[1])
    live = await orch.projection.all_rows()
    await pg_pool.execute(
        f"ALTER TABLE {table} DROP COLUMN verdict, DROP COLUMN graph_key"
    )  # the older shape

    await orch.projection.migrate()
    assert await orch.projection.all_rows() == live  # every column back, the deletion carried over
    await asyncio.to_thread(orch.app.cancel_job, ids[1], "u0", "stop")
    await orch.projection.catch_up()  # and it follows the log again
    rows = {r["job_id"]: r["status"] for r in await orch.projection.all_rows()}
    assert rows == {ids[0]: "completed", ids[1]: "cancelling"}
    await orch.projection.migrate()  # a table of the right shape is left alone
    assert {r["job_id"]: r["status"] for r in await orch.projection.all_rows()} == rows


async def test_progress_is_shown_from_the_bus_forward_only_and_for_the_current_run(orch):
    job_id = new_job_id()
    run_id = f"{job_id}-a1"
    await asyncio.to_thread(orch.app.create_job, job_id, "u1", SPEC)
    path = happy_path(job_id)
    await _feed(orch.app, job_id, path[:3], 1)  # provisioned, ready, started
    await orch.projection.catch_up()

    def progress(rnd: int, prices: dict[str, float], run: str = run_id) -> ev.RunProgressed:
        return inbound(ev.RunProgressed, job_id, run_id=run, round=rnd, rounds=4, prices=prices)

    async def shown() -> tuple[int, dict[str, float]]:
        row = await orch.projection.read_row(job_id)
        return row["round"], row["prices"]

    assert await orch.projection.apply_progress(progress(2, {"q": 0.6}))
    assert not await orch.projection.apply_progress(progress(2, {"q": 0.6}))  # redelivered
    assert not await orch.projection.apply_progress(progress(1, {"q": 0.1}))  # late: older round
    assert not await orch.projection.apply_progress(progress(3, {"q": 0.9}, f"{job_id}-a0"))  # other run
    # a value PostgreSQL refuses is dropped, not raised (the bus would redeliver it for ever)
    assert not await orch.projection.apply_progress(progress(2**40, {"q": 0.2}))
    assert await shown() == (2, {"q": 0.6})
    assert orch.app.get_job(job_id).version == 5  # none of it is on the aggregate
    # a row written from the aggregate (a checkpoint here) keeps the progress the row shows
    ckpt = inbound(ev.RunCheckpointed, job_id, run_id=run_id, round=2, checkpoint_key="ck")
    await _feed(orch.app, job_id, [ckpt], 4)
    await orch.projection.catch_up()
    assert await shown() == (2, {"q": 0.6})
    assert await orch.projection.apply_progress(progress(3, {}))  # no prices: the round still moves
    assert await shown() == (3, {"q": 0.6})
    # the run completes: its final round and prices are on the log, and later telemetry is ignored
    await _feed(orch.app, job_id, [path[4]], 5)
    await orch.projection.catch_up()
    assert await shown() == (4, {"q": 0.7})
    assert not await orch.projection.apply_progress(progress(5, {"q": 0.3}))
    assert await shown() == (4, {"q": 0.7})


async def test_durable_timer_fails_a_stuck_job_after_teardown(orch):
    job_id = new_job_id()
    await asyncio.to_thread(orch.app.create_job, job_id, "u1", SPEC)
    await orch.projection.catch_up()
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert await orch.projection.due_jobs(datetime.now(UTC)) == []
    assert await orch.projection.due_jobs(later) == [job_id]
    fired = await asyncio.to_thread(orch.app.fire_timers, job_id, later)
    assert fired.changed and fired.row["stage"] == "failing"
    assert await asyncio.to_thread(orch.app.fire_timers, job_id, later) == type(fired)(fired.row)  # no-op now
    term = inbound(ev.PodTerminated, job_id, attempt=1, pod_name=pod(job_id), pod_id=None)
    [res] = await _feed(orch.app, job_id, [term], 1)
    assert res.event_names[-1] == "JobFailed"
    job = orch.app.get_job(job_id)
    assert job.status == "failed" and job.error == "timed out in provisioning" and job.stage == "provisioning"
