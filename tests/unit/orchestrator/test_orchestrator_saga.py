"""The saga, row by row: each inbound event and the decisions it leads to (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import events as ev
from contracts.artifacts import ArtifactRef
from contracts.spec import JobSpec, resolve_run
from services.orchestrator import process_manager as pm
from services.orchestrator.domain.job import Job

T0 = datetime(2025, 1, 1, tzinfo=UTC)
JOB = "j1"
SPEC = JobSpec(seed_text="seed", goal="Will it rain tomorrow?", agents=3, rounds=4)


def new_job() -> Job:
    job = Job.accept(JOB, "u", SPEC, resolve_run(SPEC, 7), T0)
    pm.start(job, T0)
    job.collect_events()
    return job


def names(job: Job) -> list[str]:
    return [type(e).__name__ for e in job.collect_events()]


def feed(job: Job, cls: type[ev.Event], **fields: Any) -> list[str]:
    pm.react(job, ev.new_event(cls, JOB, **fields), T0 + timedelta(minutes=1))
    return names(job)


def pod(attempt: int = 1) -> str:
    return f"simswarm-{JOB}-a{attempt}"


def pod_gone(job: Job, attempt: int = 1, pod_id: str | None = "p1") -> list[str]:
    """The pod manager reports the attempt's pod terminated: what the job decided."""
    return feed(job, ev.PodTerminated, attempt=attempt, pod_name=pod(attempt), pod_id=pod_id)


def run(attempt: int = 1) -> str:
    return f"{JOB}-a{attempt}"


def to_running(job: Job) -> None:
    feed(job, ev.PodProvisioned, attempt=1, pod_name=pod(), pod_id="p1", provider="local")
    feed(job, ev.PodReady, attempt=1, pod_name=pod(), pod_id="p1")
    feed(job, ev.RunStarted, run_id=run(), attempt=1, agents=3, rounds=4)


def to_reporting(job: Job) -> None:
    to_running(job)
    art = ArtifactRef(name="posts.json", key=f"jobs/{JOB}/artifacts/posts.json", size=1, sha256="0" * 64)
    feed(
        job,
        ev.RunCompleted,
        run_id=run(),
        artifact_prefix=f"jobs/{JOB}/artifacts/",
        artifacts=[art],
        final_prices={"q": 0.8},
    )


def test_create_records_the_job_and_asks_for_the_first_pod_in_one_save():
    run_ = resolve_run(SPEC, 7)
    job = Job.accept(JOB, "u", SPEC, run_, T0, traceparent="00-abc-def-01")
    pm.start(job, T0)
    assert names(job) == ["JobCreated", "PodRequested"]
    assert job.status == "provisioning" and job.attempt == 1 and job.live_pods() == [pod()]
    assert job.deadline_at == T0 + timedelta(seconds=run_.timeout_s) + timedelta(minutes=20)


def test_provisioned_records_the_pod_and_ready_requests_the_run():
    job = new_job()
    assert feed(job, ev.PodProvisioned, attempt=1, pod_name=pod(), pod_id="p1", provider="local") == [
        "PodProvisionRecorded"
    ]
    assert job.stage == "health" and job.pods[pod()]["pod_id"] == "p1"
    assert feed(job, ev.PodReady, attempt=1, pod_name=pod(), pod_id="p1") == ["RunRequested"]
    assert job.status == "running" and job.run_id == run()


def test_checkpoints_are_recorded_and_progress_is_telemetry_not_stored():
    job = new_job()
    to_running(job)
    # progress rounds stay on the bus (the projection shows them): nothing for the aggregate to decide
    assert feed(job, ev.RunProgressed, run_id=run(), round=2, rounds=4, prices={"q": 0.6}) == []
    assert job.round == 0 and job.prices == {}
    assert ev.RunProgressed.__name__ not in pm.INBOUND_EVENT_TYPES  # not even copied to its inbox
    assert feed(job, ev.RunCheckpointed, run_id=run(), round=2, checkpoint_key="ck") == ["CheckpointRecorded"]
    assert job.checkpoint_key == "ck"
    assert feed(job, ev.RunCheckpointed, run_id="someone-else", round=3, checkpoint_key="x") == []


def test_run_completed_tears_down_and_requests_the_report():
    job = new_job()
    to_reporting(job)
    assert job.status == "reporting" and job.pods[pod()]["state"] == "teardown"
    assert job.final_prices == {"q": 0.8} and len(job.artifacts) == 1


def test_completed_only_with_both_the_report_and_the_pod_gone():
    job = new_job()
    to_reporting(job)
    assert feed(job, ev.ReportWritten, report_key="r.md", artifacts=[], verdict="yes") == ["ReportRecorded"]
    assert job.status == "reporting"
    assert pod_gone(job) == ["PodTerminationRecorded", "JobCompleted"]
    assert job.status == "completed" and job.verdict == "yes"


def test_completed_when_the_pod_goes_first_and_the_report_second():
    job = new_job()
    to_reporting(job)
    assert pod_gone(job) == ["PodTerminationRecorded"]
    assert feed(job, ev.ReportWritten, report_key="r.md", artifacts=[]) == ["ReportRecorded", "JobCompleted"]


@pytest.mark.parametrize(
    "cls,extra",
    [
        (ev.GraphBuilt, {"graph_key": "g.json", "nodes": 3, "edges": 2}),
        (ev.GraphFailed, {"reason": "no neo4j"}),
    ],
)
def test_graph_results_are_annotations_even_on_a_finished_job(cls, extra):
    job = new_job()
    pm.cancel(job, "u", "stop", T0)
    pod_gone(job, pod_id=None)
    assert feed(job, cls, **extra) == ["GraphRecorded"]
    assert job.status == "cancelled"


@pytest.mark.parametrize(
    "cls,extra",
    [
        (ev.PodProvisionFailed, {"reason": "no gpu"}),
        (ev.PodUnhealthy, {"pod_id": "p1", "reason": "vllm died"}),
    ],
)
def test_pod_failure_retries_once_on_a_new_pod_then_fails_after_teardown(cls, extra):
    job = new_job()
    assert feed(job, cls, attempt=1, pod_name=pod(), **extra) == [
        "AttemptFailed",
        "PodTeardownRequested",
        "PodRequested",
    ]
    assert job.attempt == 2 and job.live_pods() == [pod(1), pod(2)]
    assert feed(job, cls, attempt=1, pod_name=pod(), **extra) == []  # stale attempt
    assert feed(job, cls, attempt=2, pod_name=pod(2), **extra) == ["FailureBegan", "PodTeardownRequested"]
    assert job.stage == "failing" and not job.is_terminal
    assert pod_gone(job, 2, pod_id=None) == ["PodTerminationRecorded"]
    assert pod_gone(job, pod_id=None) == ["PodTerminationRecorded", "JobFailed"]
    assert job.status == "failed" and job.stage in ("provisioning", "health")


@pytest.mark.parametrize("checkpoint", ["jobs/j1/checkpoints/latest.ckpt", None])
def test_retryable_run_failure_swaps_the_pod_and_resumes_or_starts_over(checkpoint):
    """A lost pod is no fault of the job's: the next attempt resumes from the checkpoint, or starts the
    run over when there is none yet; the last attempt's failure fails the job."""
    job = new_job()
    to_running(job)
    if checkpoint:
        feed(job, ev.RunCheckpointed, run_id=run(), round=2, checkpoint_key=checkpoint)
    assert feed(job, ev.RunFailed, run_id=run(), reason="pod vanished", retryable=True) == [
        "AttemptFailed",
        "PodTeardownRequested",
        "PodRequested",
    ]
    feed(job, ev.PodProvisioned, attempt=2, pod_name=pod(2), pod_id="p2", provider="local")
    pm.react(job, ev.new_event(ev.PodReady, JOB, attempt=2, pod_name=pod(2), pod_id="p2"), T0)
    [requested] = job.collect_events()
    assert type(requested).__name__ == "RunRequested"
    assert requested.resume_from == checkpoint and requested.run_id == run(2)
    # the second attempt was the last (the first pod is already going)
    assert feed(job, ev.RunFailed, run_id=run(2), reason="pod vanished", retryable=True) == [
        "FailureBegan",
        "PodTeardownRequested",
    ]


def test_a_run_failure_that_is_not_retryable_fails_after_teardown():
    job = new_job()
    to_running(job)
    assert feed(job, ev.RunFailed, run_id=run(), reason="bad seed", retryable=False) == [
        "FailureBegan",
        "PodTeardownRequested",
    ]
    assert pod_gone(job) == ["PodTerminationRecorded", "JobFailed"]
    assert job.error == "bad seed" and job.stage == "run"


def test_report_failure_fails_the_job_after_teardown():
    job = new_job()
    to_reporting(job)
    assert feed(job, ev.ReportFailed, reason="llm down") == ["FailureBegan"]  # teardown already asked
    assert pod_gone(job) == ["PodTerminationRecorded", "JobFailed"]
    assert job.stage == "report"


def test_report_failure_with_no_pod_left_fails_at_once():
    job = new_job()
    to_reporting(job)
    pod_gone(job)
    assert feed(job, ev.ReportFailed, reason="llm down") == ["JobFailed"]


def test_cancel_tears_down_even_while_provisioning_then_cancels():
    job = new_job()
    assert pm.cancel(job, "u", "not needed", T0)
    assert names(job) == ["JobCancellationRequested", "PodTeardownRequested"]
    assert job.status == "cancelling"
    assert feed(job, ev.PodReady, attempt=1, pod_name=pod(), pod_id="p1") == []  # no run for a cancelled job
    assert pod_gone(job) == ["PodTerminationRecorded", "JobCancelled"]
    assert not pm.cancel(job, "u", "again", T0) and names(job) == []


def test_a_pod_that_comes_up_after_the_job_ended_is_torn_down_without_reviving_the_job():
    job = new_job()
    pm.cancel(job, "u", "x", T0)
    pod_gone(job, pod_id=None)
    assert feed(job, ev.PodProvisioned, attempt=1, pod_name=pod(), pod_id="late", provider="local") == [
        "PodProvisionRecorded",
        "PodTeardownRequested",
    ]
    assert job.status == "cancelled"
    for cls, extra in [
        (ev.RunCompleted, {"run_id": run(), "artifact_prefix": "x", "artifacts": []}),
        (ev.ReportWritten, {"report_key": "r", "artifacts": []}),
        (ev.RunFailed, {"run_id": run(), "reason": "x"}),
    ]:
        assert feed(job, cls, **extra) == []
    assert job.status == "cancelled"


def test_unexpected_pod_loss_while_running_starts_over_then_fails_on_the_last_attempt():
    """The same rule as a retryable RunFailed, which may arrive after this or not at all."""
    job = new_job()
    to_running(job)
    assert pod_gone(job) == ["PodTerminationRecorded", "AttemptFailed", "PodRequested"]
    assert job.attempt == 2 and job.resume_from is None
    feed(job, ev.PodProvisioned, attempt=2, pod_name=pod(2), pod_id="p2", provider="local")
    pm.react(job, ev.new_event(ev.PodReady, JOB, attempt=2, pod_name=pod(2), pod_id="p2"), T0)
    job.collect_events()
    assert pod_gone(job, 2) == ["PodTerminationRecorded", "JobFailed"]
    assert job.error == "pod terminated unexpectedly"
