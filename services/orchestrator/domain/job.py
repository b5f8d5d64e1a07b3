"""The Job aggregate: a job's whole life as stored events (eventsourcing), with guarded transitions.

Command methods ARE the events (`@event("PodRequested")`): calling one records the event and applies
it. Public methods check the rules first (`check_*`, raising domain errors), then call the private
event methods, so a replay never re-runs a check. Every event carries `at` (when the decision was
taken), `cause_id` (the inbound event that caused it) and `traceparent` (the span that decided it,
stamped by the application at save, never passed by the saga), which the relay turns into the contract
envelope and the parent of its publish span. A terminal job never becomes live again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate, event

from contracts.spec import TERMINAL_STATUSES, JobSpec, JobStatus, ResolvedRun
from services.orchestrator.domain.errors import InvalidTransition, JobAlreadyFinished, UnknownPod
from services.orchestrator.domain.rules import (  # noqa: F401 - re-exported for callers
    DEADLINE_SLACK,
    MAX_ATTEMPTS,
    POD_LIVE_STATES,
    TEARDOWN_MAX_REQUESTS,
    TEARDOWN_RETRY_AFTER,
    WATCHDOGS,
    artifact_prefix_for,
    job_uuid,
    pod_name_for,
    run_id_for,
)


class Job(Aggregate):
    """One simulation job. State is plain values so it maps straight onto the `jobs` projection row."""

    @staticmethod
    def create_id(job_id: str) -> uuid.UUID:  # type: ignore[override]
        return job_uuid(job_id)

    @classmethod
    def accept(
        cls,
        job_id: str,
        owner_id: str,
        spec: JobSpec,
        run: ResolvedRun,
        at: datetime,
        retry_of: str | None = None,
        traceparent: str | None = None,
    ) -> Job:
        """A new job from a spec and its resolved run (stored as plain values): records JobCreated."""
        return cls(
            job_id=job_id,
            owner_id=owner_id,
            spec=msgspec.to_builtins(spec),
            run=msgspec.to_builtins(run),
            retry_of=retry_of,
            at=at,
            traceparent=traceparent,
        )

    @event("JobCreated")
    def __init__(
        self,
        job_id: str,
        owner_id: str,
        spec: dict[str, Any],
        run: dict[str, Any],
        retry_of: str | None,
        at: datetime,
        traceparent: str | None,
    ) -> None:
        self.job_id = job_id
        self.owner_id = owner_id
        self.spec = dict(spec)
        self.run = dict(run)
        self.retry_of = retry_of
        self.created_at = at
        self.updated_at = at
        self.finished_at: datetime | None = None
        self.status = str(JobStatus.CREATED)
        self.stage = "queued"
        self.attempt = 0
        self.pods: dict[str, dict[str, Any]] = {}
        self.run_id: str | None = None
        self.resume_from: str | None = None
        self.checkpoint_key: str | None = None
        self.agents = int(run.get("agents", 0))
        self.rounds = int(run.get("rounds", 0))
        self.round = 0
        self.prices: dict[str, float] = {}
        self.final_prices: dict[str, float] = {}
        self.verdict: str | None = None
        self.error: str | None = None
        self.artifacts: list[dict[str, Any]] = []
        self.report_key: str | None = None
        self.report_written = False
        self.graph_key: str | None = None
        self.timings: dict[str, dict[str, str]] = {}
        self.failure: dict[str, str] | None = None  # {reason, stage} while failing
        self.cancel_reason: str | None = None
        self.deadline_at: datetime | None = (
            at + timedelta(seconds=int(run.get("timeout_s", 0))) + DEADLINE_SLACK
        )
        self.watchdog_at: datetime | None = None
        self.watchdog_phase: str | None = None
        self.traceparent = traceparent

    # -- queries -------------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_failing(self) -> bool:
        return self.failure is not None and not self.is_terminal

    @property
    def is_cancelling(self) -> bool:
        return self.status == JobStatus.CANCELLING

    @property
    def is_winding_down(self) -> bool:
        """Failing or cancelling: only pod teardown is awaited before the terminal event."""
        return self.is_failing or self.is_cancelling

    def live_pods(self) -> list[str]:
        """Pods that may still exist (requested and not yet terminated or given up on)."""
        return [name for name, p in self.pods.items() if p["state"] in POD_LIVE_STATES]

    def current_pod(self) -> dict[str, Any] | None:
        return self.pods.get(pod_name_for(self.job_id, self.attempt)) if self.attempt else None

    def next_due_at(self) -> datetime | None:
        """The earliest durable timer of this job (deadline, watchdog, teardown re-request)."""
        due = [
            p["teardown_due_at"]
            for p in self.pods.values()
            if p["state"] == "teardown" and p["teardown_due_at"]
        ]
        if not self.is_terminal and not self.is_winding_down:
            due += [t for t in (self.deadline_at, self.watchdog_at) if t is not None]
        return min(due) if due else None

    # -- checks --------------------------------------------------------------------------------

    def check_live(self, action: str) -> None:
        if self.is_terminal:
            raise JobAlreadyFinished(self.job_id, self.status)

    def check_not_winding_down(self, action: str) -> None:
        self.check_live(action)
        if self.is_winding_down:
            raise InvalidTransition(self.job_id, action, self.status, self.stage)

    def check_known_pod(self, pod_name: str) -> None:
        if pod_name not in self.pods:
            raise UnknownPod(self.job_id, pod_name)

    def check_no_live_pods(self, action: str) -> None:
        if self.live_pods():
            raise InvalidTransition(
                self.job_id, f"{action} with live pods {self.live_pods()}", self.status, self.stage
            )

    # -- helpers used by the event bodies ------------------------------------------------------

    def _touch(self, at: datetime) -> None:
        self.updated_at = max(self.updated_at, at)

    def _timing(self, phase: str, *, start: datetime | None = None, end: datetime | None = None) -> None:
        entry = dict(self.timings.get(phase, {}))
        if start is not None and "start" not in entry:
            entry["start"] = start.isoformat()
        if end is not None:
            entry["end"] = end.isoformat()
        self.timings = {**self.timings, phase: entry}

    def _watch(self, phase: str | None, at: datetime) -> None:
        self.watchdog_phase = phase
        self.watchdog_at = at + WATCHDOGS[phase] if phase else None

    def _pod(self, pod_name: str, **changes: Any) -> None:
        self.pods = {**self.pods, pod_name: {**self.pods[pod_name], **changes}}

    # -- decisions (published as contract events) ---------------------------------------------

    def request_pod(
        self,
        attempt: int,
        at: datetime,
        cause_id: str | None = None,
        resume_from: str | None = None,
    ) -> None:
        """Ask for a pod for `attempt` (the pod name is the provisioning idempotency key)."""
        self.check_not_winding_down("request a pod")
        if attempt != self.attempt + 1 or attempt > MAX_ATTEMPTS:
            raise InvalidTransition(self.job_id, f"request attempt {attempt}", self.status, self.stage)
        self._request_pod(
            attempt=attempt,
            pod_name=pod_name_for(self.job_id, attempt),
            gpu_types=list(self.run.get("gpu_types", [])),
            model=str(self.run.get("model", "")),
            policy=str(self.run.get("policy", "")),
            resume_from=resume_from,
            at=at,
            cause_id=cause_id,
        )

    @event("PodRequested")
    def _request_pod(
        self,
        attempt: int,
        pod_name: str,
        gpu_types: list[str],
        model: str,
        policy: str,
        resume_from: str | None,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        self.attempt = attempt
        self.status = str(JobStatus.PROVISIONING)
        self.stage = "provisioning"
        self.resume_from = resume_from
        self.pods = {
            **self.pods,
            pod_name: {
                "attempt": attempt,
                "pod_id": None,
                "provider": None,
                "gpu_type": None,
                "cost_per_hour": None,
                "cost": None,
                "state": "requested",
                "teardown_requests": 0,
                "teardown_due_at": None,
            },
        }
        self._timing("provisioning", start=at)
        self._watch("provisioning", at)
        self._touch(at)

    def request_run(self, at: datetime, cause_id: str | None = None) -> None:
        """The current pod is ready: run the simulation on it (resuming from a checkpoint if any)."""
        self.check_not_winding_down("request a run")
        pod = self.current_pod()
        if (
            self.status != JobStatus.PROVISIONING
            or pod is None
            or pod["state"] not in ("requested", "provisioned")
        ):
            raise InvalidTransition(self.job_id, "request a run", self.status, self.stage)
        self._request_run(
            attempt=self.attempt,
            run_id=run_id_for(self.job_id, self.attempt),
            pod_name=pod_name_for(self.job_id, self.attempt),
            artifact_prefix=artifact_prefix_for(self.job_id),
            resume_from=self.resume_from,
            at=at,
            cause_id=cause_id,
            spec=self.spec,  # carried so the podmanager never reads JobCreated back
            run=self.run,
        )

    @event("RunRequested")
    def _request_run(
        self,
        attempt: int,
        run_id: str,
        pod_name: str,
        artifact_prefix: str,
        resume_from: str | None,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
        spec: dict[str, Any] | None = None,  # None in events stored before it was carried
        run: dict[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.status = str(JobStatus.RUNNING)
        self.stage = "starting"
        self._pod(pod_name, state="ready")
        self._timing("provisioning", end=at)
        self._timing("running", start=at)
        self._watch("starting", at)
        self._touch(at)

    def request_teardown(
        self,
        pod_name: str,
        reason: str,
        at: datetime,
        cause_id: str | None = None,
    ) -> None:
        """Ask for a pod to be terminated (compensation, or the end of a run). Allowed on any job."""
        self.check_known_pod(pod_name)
        pod = self.pods[pod_name]
        self._request_teardown(
            attempt=int(pod["attempt"]),
            pod_name=pod_name,
            pod_id=pod["pod_id"],
            reason=reason,
            at=at,
            cause_id=cause_id,
        )

    @event("PodTeardownRequested")
    def _request_teardown(
        self,
        attempt: int,
        pod_name: str,
        pod_id: str | None,
        reason: str,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        pod = self.pods[pod_name]
        self._pod(
            pod_name,
            state="teardown",
            teardown_requests=int(pod["teardown_requests"]) + 1,
            teardown_due_at=at + TEARDOWN_RETRY_AFTER,
        )
        self._touch(at)

    def request_report(self, at: datetime, cause_id: str | None = None) -> None:
        self.check_not_winding_down("request a report")
        if self.status != JobStatus.RUNNING:
            raise InvalidTransition(self.job_id, "request a report", self.status, self.stage)
        engine = [a for a in self.artifacts if a.get("key", "").startswith(artifact_prefix_for(self.job_id))]
        self._request_report(
            artifact_prefix=artifact_prefix_for(self.job_id),
            artifacts=engine,
            at=at,
            cause_id=cause_id,
        )

    @event("ReportRequested")
    def _request_report(
        self,
        artifact_prefix: str,
        artifacts: list[dict[str, Any]],
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        self.status = str(JobStatus.REPORTING)
        self.stage = "reporting"
        self._timing("reporting", start=at)
        self._watch("reporting", at)
        self._touch(at)

    def request_cancellation(self, requested_by: str | None, reason: str, at: datetime) -> None:
        self.check_live("cancel")
        if self.is_cancelling:
            raise InvalidTransition(self.job_id, "cancel again", self.status, self.stage)
        self._request_cancellation(requested_by=requested_by, reason=reason, at=at, cause_id=None)

    @event("JobCancellationRequested")
    def _request_cancellation(
        self,
        requested_by: str | None,
        reason: str,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        self.status = str(JobStatus.CANCELLING)
        self.stage = "cancelling"
        self.cancel_reason = reason
        self._watch(None, at)
        self._touch(at)

    def complete(self, at: datetime, cause_id: str | None = None) -> None:
        """The report is written and every pod is gone: the job is done."""
        self.check_not_winding_down("complete")
        self.check_no_live_pods("complete")
        if not self.report_written:
            raise InvalidTransition(self.job_id, "complete without a report", self.status, self.stage)
        self._complete(
            final_prices=dict(self.final_prices),
            verdict=self.verdict,
            report_key=self.report_key,
            at=at,
            cause_id=cause_id,
        )

    @event("JobCompleted")
    def _complete(
        self,
        final_prices: dict[str, float],
        verdict: str | None,
        report_key: str | None,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        self._finish(JobStatus.COMPLETED, "completed", at)

    def fail(
        self,
        reason: str,
        stage: str,
        at: datetime,
        cause_id: str | None = None,
    ) -> None:
        """Terminal failure; only once no pod may still exist."""
        self.check_live("fail")
        self.check_no_live_pods("fail")
        self._fail(reason=reason, stage=stage, at=at, cause_id=cause_id)

    @event("JobFailed")
    def _fail(
        self, reason: str, stage: str, at: datetime, cause_id: str | None, traceparent: str | None = None
    ) -> None:
        self.error = reason
        self._finish(JobStatus.FAILED, stage, at)

    def cancelled(self, at: datetime, cause_id: str | None = None) -> None:
        self.check_live("finish cancelling")
        self.check_no_live_pods("finish cancelling")
        if not self.is_cancelling:
            raise InvalidTransition(self.job_id, "finish cancelling", self.status, self.stage)
        self._cancelled(
            reason=self.cancel_reason or "cancelled by user",
            at=at,
            cause_id=cause_id,
        )

    @event("JobCancelled")
    def _cancelled(
        self, reason: str, at: datetime, cause_id: str | None, traceparent: str | None = None
    ) -> None:
        self._finish(JobStatus.CANCELLED, "cancelled", at)

    def _finish(self, status: JobStatus, stage: str, at: datetime) -> None:
        """The terminal state (completed, failed, cancelled): no timer is left but teardown's."""
        self.status = str(status)
        self.stage = stage
        self.failure = None
        self.finished_at = at
        self.deadline_at = None
        self._watch(None, at)
        self._timing("total", start=self.created_at, end=at)
        self._touch(at)

    # -- recorded facts (internal: not re-published) --------------------------------------------

    def begin_failure(
        self,
        reason: str,
        stage: str,
        at: datetime,
        cause_id: str | None = None,
    ) -> None:
        """Remember why the job fails while its pods are torn down (status stays non-terminal)."""
        self.check_not_winding_down("begin failing")
        self._begin_failure(reason=reason, stage=stage, at=at, cause_id=cause_id)

    @event("FailureBegan")
    def _begin_failure(
        self, reason: str, stage: str, at: datetime, cause_id: str | None, traceparent: str | None = None
    ) -> None:
        self.failure = {"reason": reason, "stage": stage}
        self.error = reason
        self.stage = "failing"
        self._watch(None, at)
        self._touch(at)

    @event("AttemptFailed")
    def record_attempt_failure(
        self,
        attempt: int,
        stage: str,
        reason: str,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        self.error = f"attempt {attempt} failed in {stage}: {reason}"
        self._touch(at)

    @event("PodProvisionRecorded")
    def record_pod_provisioned(
        self,
        pod_name: str,
        pod_id: str,
        provider: str,
        gpu_type: str | None,
        cost_per_hour: float | None,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        live = self.pods[pod_name]["state"] == "requested"
        self._pod(
            pod_name,
            pod_id=pod_id,
            provider=provider,
            gpu_type=gpu_type,
            cost_per_hour=cost_per_hour,
            **({"state": "provisioned"} if live else {}),
        )
        if live and pod_name == pod_name_for(self.job_id, self.attempt) and not self.is_winding_down:
            self.stage = "health"
            self._watch("health", at)
        self._touch(at)

    @event("RunStartRecorded")
    def record_run_started(
        self,
        run_id: str,
        agents: int,
        rounds: int,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        self.agents, self.rounds = agents, rounds
        if not self.is_winding_down:
            self.stage = "running"
            self._watch("running", at)
        self._touch(at)

    @event("RunningWatchdogExtended")
    def extend_running_watchdog(
        self,
        run_id: str,
        round: int,
        progress_at: datetime,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        """The running watchdog was due, but the run reported progress since (RunProgressed: telemetry
        on the bus, not stored here): the saga decided to wait another period from that progress."""
        self._watch("running", progress_at)
        self._touch(at)

    @event("ProgressRecorded")
    def _progress_recorded(
        self,
        run_id: str,
        round: int,
        rounds: int,
        prices: dict[str, float],
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        """Stored by versions that kept every round on the aggregate; replayed, never recorded now
        (progress is telemetry: docs/orchestrator.md#progress)."""
        self.round = max(self.round, round)
        self.rounds = rounds or self.rounds
        if prices:
            self.prices = dict(prices)
        if not self.is_winding_down:
            self.stage = "running"
            self._watch("running", at)
        self._touch(at)

    @event("CheckpointRecorded")
    def record_checkpoint(
        self,
        run_id: str,
        round: int,
        checkpoint_key: str,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        self.checkpoint_key = checkpoint_key
        if not self.is_winding_down:
            self._watch("running", at)
        self._touch(at)

    @event("RunCompletionRecorded")
    def record_run_completed(
        self,
        run_id: str,
        artifacts: list[dict[str, Any]],
        final_prices: dict[str, float],
        engine_seconds: float,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        known = {a["key"] for a in self.artifacts}
        self.artifacts = self.artifacts + [dict(a) for a in artifacts if a["key"] not in known]
        self.final_prices = dict(final_prices)
        if final_prices:
            self.prices = dict(final_prices)
        self.round = max(self.round, self.rounds)
        self._timing("running", end=at)
        self._watch(None, at)
        self._touch(at)

    @event("PodTerminationRecorded")
    def record_pod_terminated(
        self,
        pod_name: str,
        pod_id: str | None,
        billed_seconds: float | None,
        cost: float | None,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        pod = self.pods[pod_name]
        self._pod(
            pod_name,
            state="terminated",
            teardown_due_at=None,
            pod_id=pod_id or pod["pod_id"],
            cost=cost if cost is not None else pod["cost"],
        )
        self._touch(at)

    @event("PodAbandoned")
    def record_pod_abandoned(
        self, pod_name: str, reason: str, at: datetime, cause_id: str | None, traceparent: str | None = None
    ) -> None:
        """Teardown was asked for too many times without an answer; the reaper owns it now."""
        self._pod(pod_name, state="abandoned", teardown_due_at=None)
        self._touch(at)

    @event("ReportRecorded")
    def record_report(
        self,
        report_key: str,
        artifacts: list[dict[str, Any]],
        verdict: str | None,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        known = {a["key"] for a in self.artifacts}
        self.artifacts = self.artifacts + [dict(a) for a in artifacts if a["key"] not in known]
        self.report_key = report_key
        self.report_written = True
        self.verdict = verdict
        self._timing("reporting", end=at)
        self._watch(None, at)
        self._touch(at)

    @event("GraphRecorded")
    def record_graph(
        self,
        graph_key: str | None,
        ok: bool,
        detail: str,
        at: datetime,
        cause_id: str | None,
        traceparent: str | None = None,
    ) -> None:
        """An annotation, allowed on any job (even a finished one): never changes the status."""
        if ok:
            self.graph_key = graph_key
        self._touch(at)
