"""The Job aggregate's guards, timers, the contract mapping and the projection row (no I/O)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.utils import get_topic

from contracts import events as ev
from contracts.artifacts import ArtifactRef
from contracts.spec import resolve_run
from services.orchestrator import process_manager as pm
from services.orchestrator.domain.errors import InvalidTransition, JobAlreadyFinished, UnknownPod
from services.orchestrator.domain.job import WATCHDOGS, Job, job_uuid
from services.orchestrator.mapping import job_event_id, to_contract
from services.orchestrator.rows import COLUMNS, job_row
from tests.unit.orchestrator.test_orchestrator_saga import JOB, SPEC, T0, new_job, pod, pod_gone, to_running


def finished_job() -> Job:
    job = new_job()
    pm.cancel(job, "u", "x", T0)
    pod_gone(job, pod_id=None)
    return job


def test_aggregate_id_is_stable_and_uuid_job_ids_are_kept():
    assert job_uuid("abc") == job_uuid("abc") != job_uuid("abd")
    uid = "6f1c9a3e-0000-4000-8000-000000000001"
    assert str(job_uuid(uid)) == uid
    assert new_job().id == job_uuid(JOB)


@pytest.mark.parametrize(
    "action",
    [
        lambda j: j.request_pod(2, T0),
        lambda j: j.request_run(T0),
        lambda j: j.request_report(T0),
        lambda j: j.fail("x", "run", T0),
        lambda j: j.request_cancellation("u", "x", T0),
        lambda j: j.begin_failure("x", "run", T0),
    ],
)
def test_a_finished_job_never_becomes_live_again(action):
    job = finished_job()
    with pytest.raises(JobAlreadyFinished):
        action(job)
    assert job.status == "cancelled" and not job.pending_events


def test_guards_reject_steps_out_of_order():
    job = new_job()
    with pytest.raises(InvalidTransition):
        job.request_report(T0)  # not running
    with pytest.raises(InvalidTransition):
        job.complete(T0)  # a live pod and no report
    with pytest.raises(InvalidTransition):
        job.request_pod(3, T0)  # attempts are consecutive and bounded
    with pytest.raises(InvalidTransition):
        job.fail("x", "run", T0)  # a pod may still exist: compensate first
    with pytest.raises(UnknownPod):
        job.request_teardown("simswarm-other-a1", "x", T0)


# The stored schema: each Job event's fields. The event store holds events written with these names
# (topic `services.orchestrator.domain.job:Job.<Name>`), so changing one is a migration, not an edit.
STORED_FIELDS = {
    "JobCreated": "job_id owner_id spec run retry_of at traceparent",
    "PodRequested": "attempt pod_name gpu_types model policy resume_from at cause_id traceparent",
    "RunRequested": "attempt run_id pod_name artifact_prefix resume_from spec run at cause_id traceparent",
    "PodTeardownRequested": "attempt pod_name pod_id reason at cause_id traceparent",
    "ReportRequested": "artifact_prefix artifacts at cause_id traceparent",
    "JobCancellationRequested": "requested_by reason at cause_id traceparent",
    "JobCompleted": "final_prices verdict report_key at cause_id traceparent",
    "JobFailed": "reason stage at cause_id traceparent",
    "JobCancelled": "reason at cause_id traceparent",
    "FailureBegan": "reason stage at cause_id traceparent",
    "AttemptFailed": "attempt stage reason at cause_id traceparent",
    "PodProvisionRecorded": "pod_name pod_id provider gpu_type cost_per_hour at cause_id traceparent",
    "RunStartRecorded": "run_id agents rounds at cause_id traceparent",
    "RunningWatchdogExtended": "run_id round progress_at at cause_id traceparent",
    "ProgressRecorded": "run_id round rounds prices at cause_id traceparent",
    "CheckpointRecorded": "run_id round checkpoint_key at cause_id traceparent",
    "RunCompletionRecorded": "run_id artifacts final_prices engine_seconds at cause_id traceparent",
    "PodTerminationRecorded": "pod_name pod_id billed_seconds cost at cause_id traceparent",
    "PodAbandoned": "pod_name reason at cause_id traceparent",
    "ReportRecorded": "report_key artifacts verdict at cause_id traceparent",
    "GraphRecorded": "graph_key ok detail at cause_id traceparent",
}


def test_the_stored_events_keep_their_topics_and_fields():
    events = {
        name for name, cls in vars(Job).items() if isinstance(cls, type) and issubclass(cls, DomainEvent)
    }
    assert events - {"Event", "Created"} == set(STORED_FIELDS)
    for name, fields in STORED_FIELDS.items():
        cls = getattr(Job, name)
        assert get_topic(cls) == f"services.orchestrator.domain.job:Job.{name}"
        own = set(cls.__dataclass_fields__) - {
            "originator_id",
            "originator_version",
            "timestamp",
            "originator_topic",
        }
        assert own == set(fields.split()), name


def test_a_whole_life_rebuilds_the_same_job_from_its_stored_form():
    job = Job.accept(JOB, "u", SPEC, resolve_run(SPEC, 7), T0)
    pm.start(job, T0)
    art = ArtifactRef(name="posts.json", key=f"jobs/{JOB}/artifacts/posts.json", size=1, sha256="0" * 64)
    for e in [
        ev.new_event(ev.PodProvisioned, JOB, attempt=1, pod_name=pod(), pod_id="p1", provider="local"),
        ev.new_event(ev.PodReady, JOB, attempt=1, pod_name=pod(), pod_id="p1"),
        ev.new_event(ev.RunStarted, JOB, run_id=f"{JOB}-a1", attempt=1, agents=3, rounds=4),
        ev.new_event(ev.RunCheckpointed, JOB, run_id=f"{JOB}-a1", round=1, checkpoint_key="ck"),
        ev.new_event(
            ev.RunCompleted,
            JOB,
            run_id=f"{JOB}-a1",
            artifact_prefix="p/",
            artifacts=[art],
            final_prices={"q": 1.0},
        ),
        ev.new_event(ev.ReportWritten, JOB, report_key="r.md", artifacts=[], verdict="yes"),
        ev.new_event(ev.PodTerminated, JOB, attempt=1, pod_name=pod(), pod_id="p1", cost=0.5),
        ev.new_event(ev.GraphBuilt, JOB, graph_key="g.json", nodes=3, edges=2),
    ]:
        pm.react(job, e, T0)
    assert job.status == "completed" and job.graph_key == "g.json" and job.artifacts[0]["key"] == art.key
    mapper = Application().mapper  # the orchestrator stores with eventsourcing's default transcodings
    stored = [mapper.to_stored_event(e) for e in job.collect_events()]
    assert {s.topic.rsplit(".", 1)[1] for s in stored} >= {
        "JobCreated",
        "RunCompletionRecorded",
        "JobCompleted",
    }
    replayed = None
    for s in stored:
        replayed = mapper.to_domain_event(s).mutate(replayed)
    assert replayed == job and job_row(replayed) == job_row(job)


def test_watchdog_fails_a_stuck_provisioning_and_teardown_is_reasked_then_abandoned():
    job = new_job()
    assert job.next_due_at() == T0 + timedelta(minutes=15)
    pm.fire_timers(job, T0 + timedelta(minutes=5))
    assert job.collect_events() == []
    pm.fire_timers(job, T0 + timedelta(minutes=16))
    assert [type(e).__name__ for e in job.collect_events()] == ["FailureBegan", "PodTeardownRequested"]
    assert job.error == "timed out in provisioning"
    t = T0 + timedelta(minutes=16)
    for _ in range(2):  # re-asked until the limit ...
        t += timedelta(minutes=6)
        pm.fire_timers(job, t)
        assert [type(e).__name__ for e in job.collect_events()] == ["PodTeardownRequested"]
    t += timedelta(minutes=6)
    pm.fire_timers(job, t)  # ... then left to the reaper, and the job can end
    assert [type(e).__name__ for e in job.collect_events()] == ["PodAbandoned", "JobFailed"]
    assert job.status == "failed" and job.next_due_at() is None


def test_deadline_fails_a_running_job():
    job = new_job()
    to_running(job)
    pm.fire_timers(job, job.deadline_at + timedelta(seconds=1))
    assert [type(e).__name__ for e in job.collect_events()] == ["FailureBegan", "PodTeardownRequested"]
    assert job.failure == {"reason": "timed out in running (the job's deadline passed)", "stage": "timeout"}


def test_progress_stored_by_earlier_versions_still_replays():
    job = new_job()
    to_running(job)
    job.collect_events()
    before = copy.deepcopy(job)
    # what a log written before progress became telemetry holds: replayed, never recorded now
    job.trigger_event(
        Job.ProgressRecorded, run_id=f"{JOB}-a1", round=3, rounds=4, prices={"q": 0.4}, at=T0, cause_id=None
    )
    [legacy] = job.collect_events()
    assert type(legacy).__name__ == "ProgressRecorded" and to_contract(legacy, JOB) is None
    replayed = legacy.mutate(before)
    assert replayed == job and replayed.round == 3 and job_row(replayed)["prices"] == {"q": 0.4}


def _running_since(minutes: int) -> tuple[Job, datetime]:
    job = new_job()
    to_running(job)
    job.collect_events()
    assert job.watchdog_phase == "running" and job.watchdog_at is not None
    return job, job.watchdog_at + timedelta(minutes=minutes)


def _progress(run_id: str, at: datetime) -> ev.RunProgressed:
    return ev.new_event(ev.RunProgressed, JOB, run_id=run_id, round=2, rounds=4, occurred_at=at)


def test_the_running_watchdog_waits_on_while_the_bus_shows_progress():
    job, now = _running_since(1)
    recent = now - timedelta(minutes=3)
    before = copy.deepcopy(job)
    pm.fire_timers(job, now, _progress(f"{JOB}-a1", recent))
    [extended] = job.collect_events()
    assert type(extended).__name__ == "RunningWatchdogExtended" and to_contract(extended, JOB) is None
    assert job.watchdog_at == recent + WATCHDOGS["running"] and job.status == "running"
    assert job.next_due_at() > now  # not due again at once
    assert extended.mutate(before) == job  # a decision on the log: replays to the same state


@pytest.mark.parametrize(
    "progress",
    [
        None,  # no progress at all on the bus
        "stale",  # progress, but older than the watchdog's period
        "other run",  # progress of an earlier attempt's run
    ],
)
def test_the_running_watchdog_fails_a_run_without_recent_progress_of_its_own(progress):
    job, now = _running_since(1)
    last = {
        None: None,
        "stale": _progress(f"{JOB}-a1", now - WATCHDOGS["running"] - timedelta(seconds=1)),
        "other run": _progress(f"{JOB}-a0", now),
    }[progress]
    pm.fire_timers(job, now, last)
    assert [type(e).__name__ for e in job.collect_events()] == ["FailureBegan", "PodTeardownRequested"]
    assert job.error == "timed out in running"


def test_decisions_map_to_contract_events_with_a_deterministic_envelope():
    run = new_job().run
    job = Job(job_id=JOB, owner_id="u", spec=new_job().spec, run=run, retry_of=None, at=T0, traceparent="tp")
    pm.start(job, T0)
    pm.react(
        job,
        ev.new_event(ev.PodProvisioned, JOB, attempt=1, pod_name=pod(), pod_id="p1", provider="local"),
        T0,
    )
    cause = ev.new_event(ev.PodReady, JOB, attempt=1, pod_name=pod(), pod_id="p1")
    pm.react(job, cause, T0)
    created, requested, recorded, run_req = job.collect_events()
    c = to_contract(created, JOB)
    assert isinstance(c, ev.JobCreated) and c.event_id == job_event_id(JOB, 1) and c.occurred_at == T0
    assert c.correlation_id == JOB and c.traceparent == "tp" and c.run.agents == 3
    r = to_contract(requested, JOB)
    assert isinstance(r, ev.PodRequested) and r.pod_name == pod() and r.gpu_types == run["gpu_types"]
    assert to_contract(recorded, JOB) is None  # the pod manager already published that fact
    rr = to_contract(run_req, JOB)
    assert isinstance(rr, ev.RunRequested) and rr.causation_id == cause.event_id
    assert rr.artifact_prefix == f"jobs/{JOB}/artifacts/" and rr.run_id == f"{JOB}-a1"
    assert to_contract(run_req, JOB) == rr  # a re-relay is the same message (same Nats-Msg-Id)
    ev.decode_event(ev.encode_event(rr))


def test_projection_row_has_exactly_the_planned_columns():
    job = new_job()
    to_running(job)
    row = job_row(job)
    assert tuple(row) == COLUMNS
    assert row["status"] == "running" and row["pod"]["pod_name"] == pod() and row["version"] == job.version
    assert row["markets"][0]["question"] == "Will it rain tomorrow?"
