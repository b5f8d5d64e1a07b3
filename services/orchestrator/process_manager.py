"""The saga: each inbound contract event (or command, or timer) becomes the next decision on the Job.

Pure functions over the aggregate: they call its methods (which record events) and do no I/O. The
application loads the job, calls one of these, and saves whatever events were recorded together with
the inbound tracking position. Stale or late events (an old attempt, a finished job) change nothing.
Trace context is not passed here: the application stamps each new event with the span that decided it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts import events as ev
from services.orchestrator.domain.job import MAX_ATTEMPTS, TEARDOWN_MAX_REQUESTS, WATCHDOGS, Job

log = logging.getLogger(__name__)


def start(job: Job, at: datetime) -> None:
    """A new job: ask for its first pod in the same save as JobCreated."""
    job.request_pod(1, at)


def cancel(job: Job, requested_by: str | None, reason: str, at: datetime) -> bool:
    """Cancel a live job: tear down every pod that may exist, then JobCancelled once they are gone.

    Returns False (and records nothing) when the job is already finished or already cancelling.
    """
    if job.is_terminal or job.is_cancelling:
        return False
    job.request_cancellation(requested_by, reason, at)
    for name in job.live_pods():
        if job.pods[name]["state"] != "teardown":
            job.request_teardown(name, reason, at)
    _settle(job, at, None)
    return True


def fail(job: Job, reason: str, stage: str, at: datetime) -> bool:
    """Fail a live job from outside the saga's own flow (a poison event, an unstorable record).

    Compensation as always: tear its pods down first. Returns False (records nothing) when the job is
    already finished or already winding down.
    """
    if job.is_terminal or job.is_winding_down:
        return False
    _fail(job, reason, stage, at, None)
    return True


def react(job: Job, event: ev.Event, at: datetime) -> None:
    """Turn one inbound event into the job's next decisions (possibly none)."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        log.debug("job %s: %s is not for the orchestrator", job.job_id, event.type)
        return
    handler(job, event, at)
    _settle(job, at, event.event_id)


def fire_timers(job: Job, now: datetime, last_progress: ev.RunProgressed | None = None) -> None:
    """Apply every durable timer that is due: teardown re-requests, the deadline, phase watchdogs.

    Progress is telemetry, not stored on the job (docs/orchestrator.md#progress), so the running
    watchdog ("no progress for so long") asks the bus: `last_progress` is the job's newest
    RunProgressed; when it is of the current run and recent, the watchdog is extended instead.
    """
    for name in list(job.pods):
        pod = job.pods[name]
        if pod["state"] != "teardown" or pod["teardown_due_at"] is None or pod["teardown_due_at"] > now:
            continue
        if pod["teardown_requests"] < TEARDOWN_MAX_REQUESTS:
            job.request_teardown(name, "no PodTerminated yet; asking again", now)
        else:
            job.trigger_event(
                Job.PodAbandoned,
                pod_name=name,
                reason="no PodTerminated after repeated requests",
                at=now,
                cause_id=None,
            )
    if not job.is_terminal and not job.is_winding_down:
        if job.deadline_at is not None and job.deadline_at <= now:
            _fail(job, f"timed out in {job.stage} (the job's deadline passed)", "timeout", now, None)
        elif job.watchdog_at is not None and job.watchdog_at <= now:
            phase = job.watchdog_phase or job.stage
            if _still_progressing(job, last_progress, now):
                assert last_progress is not None
                job.trigger_event(
                    Job.RunningWatchdogExtended,
                    run_id=last_progress.run_id,
                    round=last_progress.round,
                    progress_at=last_progress.occurred_at,
                    at=now,
                    cause_id=last_progress.event_id,
                )
            else:
                _fail(job, f"timed out in {phase}", phase, now, None)
    _settle(job, now, None)


def _still_progressing(job: Job, last_progress: ev.RunProgressed | None, now: datetime) -> bool:
    """The run reported progress within the running watchdog's period (so it is not stuck)."""
    return (
        job.watchdog_phase == "running"
        and last_progress is not None
        and last_progress.run_id == job.run_id
        and last_progress.occurred_at + WATCHDOGS["running"] > now
    )


# -- handlers ----------------------------------------------------------------------------------


def _is_current(job: Job, attempt: int) -> bool:
    return attempt == job.attempt and not job.is_terminal and not job.is_winding_down


def _pod_provisioned(job: Job, e: ev.PodProvisioned, at: datetime) -> None:
    if e.pod_name not in job.pods:
        return
    state = job.pods[e.pod_name]["state"]
    job.record(Job.PodProvisionRecorded, e, at)
    if state in ("teardown", "terminated", "abandoned"):
        # A pod that came up after we asked it away (cancel during provisioning, an old attempt, a
        # finished job): ask again, now that it has an id. No pod outlives its job.
        job.request_teardown(e.pod_name, "pod came up after teardown was requested", at, e.event_id)


def _pod_ready(job: Job, e: ev.PodReady, at: datetime) -> None:
    if e.pod_name not in job.pods:
        return
    pod = job.pods[e.pod_name]
    if pod["state"] in ("terminated", "abandoned"):
        job.request_teardown(e.pod_name, "pod reported ready after teardown", at, e.event_id)
    elif (
        _is_current(job, e.attempt)
        and job.status == "provisioning"
        and pod["state"] in ("requested", "provisioned")
    ):
        job.request_run(at, e.event_id)


def _pod_provision_failed(job: Job, e: ev.PodProvisionFailed, at: datetime) -> None:
    if _is_current(job, e.attempt) and job.status == "provisioning":
        _attempt_failed(job, "provisioning", e.reason, True, at, e.event_id)


def _pod_unhealthy(job: Job, e: ev.PodUnhealthy, at: datetime) -> None:
    if _is_current(job, e.attempt) and job.status in ("provisioning", "running"):
        _attempt_failed(job, "health", e.reason, True, at, e.event_id)


def _is_current_run(job: Job, run_id: str) -> bool:
    return run_id == job.run_id and not job.is_terminal


def _run_started(job: Job, e: ev.RunStarted, at: datetime) -> None:
    if _is_current_run(job, e.run_id):
        job.record(Job.RunStartRecorded, e, at)


def _run_checkpointed(job: Job, e: ev.RunCheckpointed, at: datetime) -> None:
    if _is_current_run(job, e.run_id):
        job.record(Job.CheckpointRecorded, e, at)


def _run_completed(job: Job, e: ev.RunCompleted, at: datetime) -> None:
    if not _is_current_run(job, e.run_id) or job.is_winding_down or job.status != "running":
        return
    job.record(Job.RunCompletionRecorded, e, at)
    for name in job.live_pods():
        if job.pods[name]["state"] != "teardown":
            job.request_teardown(name, "run completed", at, e.event_id)
    job.request_report(at, e.event_id)


def _run_failed(job: Job, e: ev.RunFailed, at: datetime) -> None:
    if not _is_current_run(job, e.run_id) or job.is_winding_down or job.status != "running":
        return
    # The pod died, vanished or lost the run: a new pod resumes from the last checkpoint, or starts the
    # run over when there is none yet (a lost pod is no fault of the job's).
    _attempt_failed(job, "run", e.reason, e.retryable, at, e.event_id)


def _pod_terminated(job: Job, e: ev.PodTerminated, at: datetime) -> None:
    pod = job.pods.get(e.pod_name)
    if pod is None or pod["state"] == "terminated":
        return
    expected = pod["state"] in ("teardown", "abandoned")
    job.record(Job.PodTerminationRecorded, e, at)
    if not expected and _is_current(job, e.attempt) and job.status in ("provisioning", "running"):
        # As for a retryable RunFailed (whichever of the two arrives first): a new pod, resuming from
        # the checkpoint or starting over, while an attempt is left.
        _attempt_failed(job, job.stage, "pod terminated unexpectedly", True, at, e.event_id)


def _report_written(job: Job, e: ev.ReportWritten, at: datetime) -> None:
    if job.status != "reporting" or job.is_winding_down or job.report_written:
        return
    job.record(Job.ReportRecorded, e, at)


def _report_failed(job: Job, e: ev.ReportFailed, at: datetime) -> None:
    if job.status == "reporting" and not job.is_winding_down and not job.report_written:
        _fail(job, f"report failed: {e.reason}", "report", at, e.event_id)


def _graph_built(job: Job, e: ev.GraphBuilt, at: datetime) -> None:
    job.trigger_event(
        Job.GraphRecorded,
        graph_key=e.graph_key,
        ok=True,
        detail=f"{e.nodes} nodes, {e.edges} edges",
        at=at,
        cause_id=e.event_id,
    )


def _graph_failed(job: Job, e: ev.GraphFailed, at: datetime) -> None:
    job.trigger_event(
        Job.GraphRecorded, graph_key=None, ok=False, detail=e.reason, at=at, cause_id=e.event_id
    )


_HANDLERS: dict[type[ev.Event], Callable[[Job, Any, datetime], None]] = {
    ev.PodProvisioned: _pod_provisioned,
    ev.PodReady: _pod_ready,
    ev.PodProvisionFailed: _pod_provision_failed,
    ev.PodUnhealthy: _pod_unhealthy,
    ev.RunStarted: _run_started,
    ev.RunCheckpointed: _run_checkpointed,
    ev.RunCompleted: _run_completed,
    ev.RunFailed: _run_failed,
    ev.PodTerminated: _pod_terminated,
    ev.ReportWritten: _report_written,
    ev.ReportFailed: _report_failed,
    ev.GraphBuilt: _graph_built,
    ev.GraphFailed: _graph_failed,
}
INBOUND_EVENT_TYPES: list[str] = [cls.__name__ for cls in _HANDLERS]


# -- failure and settlement --------------------------------------------------------------------


def _attempt_failed(
    job: Job,
    stage: str,
    reason: str,
    retryable: bool,
    at: datetime,
    cause_id: str | None,
    resume_from: str | None = None,
) -> None:
    """Retry on a fresh pod (tearing the failed one down first) while attempts are left; else fail."""
    if not retryable or job.attempt >= MAX_ATTEMPTS:
        _fail(job, reason, stage, at, cause_id)
        return
    job.trigger_event(
        Job.AttemptFailed, attempt=job.attempt, stage=stage, reason=reason, at=at, cause_id=cause_id
    )
    for name in job.live_pods():
        if job.pods[name]["state"] != "teardown":
            job.request_teardown(name, f"attempt {job.attempt} failed in {stage}", at, cause_id)
    job.request_pod(job.attempt + 1, at, cause_id, resume_from=resume_from or job.checkpoint_key)


def _fail(job: Job, reason: str, stage: str, at: datetime, cause_id: str | None) -> None:
    """Compensate: with pods that may exist, tear them down and fail once they are gone; else fail now."""
    if not job.live_pods():
        job.fail(reason, stage, at, cause_id)
        return
    job.begin_failure(reason, stage, at, cause_id)
    for name in job.live_pods():
        if job.pods[name]["state"] != "teardown":
            job.request_teardown(name, f"job failing: {reason}", at, cause_id)


def _settle(job: Job, at: datetime, cause_id: str | None) -> None:
    """Reach the terminal event once nothing is left to wait for (no pod outlives its job)."""
    if job.is_terminal or job.live_pods():
        return
    if job.is_cancelling:
        job.cancelled(at, cause_id)
    elif job.failure is not None:
        job.fail(job.failure["reason"], job.failure["stage"], at, cause_id)
    elif job.status == "reporting" and job.report_written:
        job.complete(at, cause_id)
