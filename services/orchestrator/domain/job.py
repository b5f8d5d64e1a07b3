"""The Job aggregate: a job's whole life as stored events (eventsourcing), with guarded transitions.

Each stored event is a class nested in `Job` (its name and fields are the stored schema, its topic
`services.orchestrator.domain.job:Job.<Name>`) whose `apply` changes the job. Public methods check the
rules first (`check_*`, raising domain errors), then trigger the event, so a replay never re-runs a
check. The saga stores what an inbound event says with `record` (a `*Recorded` fact takes the inbound
event's fields of the same names) and triggers its other facts itself. Every event but JobCreated is a
`JobEvent`: it carries `at` (when the decision was taken), `cause_id` (the inbound event that caused it)
and `traceparent` (the span that decided it, stamped by the application at save, never passed by the
saga), which the relay turns into the contract envelope and the parent of its publish span. The stored
names are pinned by tests/unit/orchestrator/test_orchestrator_job.py. A terminal job never becomes
live again.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from dataclasses import KW_ONLY
from datetime import datetime, timedelta
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate, event

from contracts import events as ev
from contracts.objects import artifact_prefix
from contracts.spec import TERMINAL_STATUSES, JobSpec, JobStatus, ResolvedRun
from services.orchestrator.domain.errors import InvalidTransition, JobAlreadyFinished, UnknownPod
from services.orchestrator.domain.rules import (  # noqa: F401 - re-exported for callers
    DEADLINE_SLACK,
    MAX_ATTEMPTS,
    POD_LIVE_STATES,
    TEARDOWN_MAX_REQUESTS,
    TEARDOWN_RETRY_AFTER,
    WATCHDOGS,
    job_uuid,
    pod_name_for,
    run_id_for,
)


class JobEvent(Aggregate.Event):
    """A stored Job event after JobCreated: its own fields, then the three every event carries
    (keyword-only, so that subclasses declare their own fields first)."""

    _: KW_ONLY
    at: datetime
    cause_id: str | None
    traceparent: str | None = None

    @classmethod
    @functools.cache
    def own_fields(cls) -> tuple[str, ...]:
        """The names of this event's own fields (not the envelope every stored event carries); worked
        out once per class, since the saga asks for every inbound fact it records."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _ENVELOPE_FIELDS)

    def mutate(self, aggregate: Any) -> Any:
        """Apply the event (eventsourcing checks its version and calls `apply`), then advance the
        job's `updated_at`, which every event does."""
        super().mutate(aggregate)
        aggregate.updated_at = max(aggregate.updated_at, self.at)
        return aggregate


_ENVELOPE_FIELDS = frozenset(f.name for f in dataclasses.fields(JobEvent))


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

    # -- helpers used by the events' apply -----------------------------------------------------

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

    def _add_artifacts(self, artifacts: list[dict[str, Any]]) -> None:
        """Append those not listed yet (by key), so that no artifact is listed twice."""
        known = {a["key"] for a in self.artifacts}
        self.artifacts = self.artifacts + [dict(a) for a in artifacts if a["key"] not in known]

    def _alive(self, at: datetime) -> None:
        """The run showed a sign of life: it is running, and its watchdog starts again (not while
        the job winds down)."""
        if not self.is_winding_down:
            self.stage = "running"
            self._watch("running", at)

    def _finish(self, status: JobStatus, stage: str, at: datetime) -> None:
        """The terminal state (completed, failed, cancelled): no timer is left but teardown's."""
        self.status = str(status)
        self.stage = stage
        self.failure = None
        self.finished_at = at
        self.deadline_at = None
        self._watch(None, at)
        self._timing("total", start=self.created_at, end=at)

    # -- decisions: check the rules, then trigger the event ------------------------------------

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
        self.trigger_event(
            self.PodRequested,
            attempt=attempt,
            pod_name=pod_name_for(self.job_id, attempt),
            gpu_types=list(self.run.get("gpu_types", [])),
            model=str(self.run.get("model", "")),
            policy=str(self.run.get("policy", "")),
            resume_from=resume_from,
            at=at,
            cause_id=cause_id,
        )

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
        self.trigger_event(
            self.RunRequested,
            attempt=self.attempt,
            run_id=run_id_for(self.job_id, self.attempt),
            pod_name=pod_name_for(self.job_id, self.attempt),
            artifact_prefix=artifact_prefix(self.job_id),
            resume_from=self.resume_from,
            spec=self.spec,  # carried so the podmanager never reads JobCreated back
            run=self.run,
            at=at,
            cause_id=cause_id,
        )

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
        self.trigger_event(
            self.PodTeardownRequested,
            attempt=int(pod["attempt"]),
            pod_name=pod_name,
            pod_id=pod["pod_id"],
            reason=reason,
            at=at,
            cause_id=cause_id,
        )

    def request_report(self, at: datetime, cause_id: str | None = None) -> None:
        self.check_not_winding_down("request a report")
        if self.status != JobStatus.RUNNING:
            raise InvalidTransition(self.job_id, "request a report", self.status, self.stage)
        prefix = artifact_prefix(self.job_id)
        engine = [a for a in self.artifacts if a.get("key", "").startswith(prefix)]
        self.trigger_event(
            self.ReportRequested, artifact_prefix=prefix, artifacts=engine, at=at, cause_id=cause_id
        )

    def request_cancellation(self, requested_by: str | None, reason: str, at: datetime) -> None:
        self.check_live("cancel")
        if self.is_cancelling:
            raise InvalidTransition(self.job_id, "cancel again", self.status, self.stage)
        self.trigger_event(
            self.JobCancellationRequested, requested_by=requested_by, reason=reason, at=at, cause_id=None
        )

    def complete(self, at: datetime, cause_id: str | None = None) -> None:
        """The report is written and every pod is gone: the job is done."""
        self.check_not_winding_down("complete")
        self.check_no_live_pods("complete")
        if not self.report_written:
            raise InvalidTransition(self.job_id, "complete without a report", self.status, self.stage)
        self.trigger_event(
            self.JobCompleted,
            final_prices=dict(self.final_prices),
            verdict=self.verdict,
            report_key=self.report_key,
            at=at,
            cause_id=cause_id,
        )

    def fail(self, reason: str, stage: str, at: datetime, cause_id: str | None = None) -> None:
        """Terminal failure; only once no pod may still exist."""
        self.check_live("fail")
        self.check_no_live_pods("fail")
        self.trigger_event(self.JobFailed, reason=reason, stage=stage, at=at, cause_id=cause_id)

    def cancelled(self, at: datetime, cause_id: str | None = None) -> None:
        self.check_live("finish cancelling")
        self.check_no_live_pods("finish cancelling")
        if not self.is_cancelling:
            raise InvalidTransition(self.job_id, "finish cancelling", self.status, self.stage)
        reason = self.cancel_reason or "cancelled by user"
        self.trigger_event(self.JobCancelled, reason=reason, at=at, cause_id=cause_id)

    def begin_failure(self, reason: str, stage: str, at: datetime, cause_id: str | None = None) -> None:
        """Remember why the job fails while its pods are torn down (status stays non-terminal)."""
        self.check_not_winding_down("begin failing")
        self.trigger_event(self.FailureBegan, reason=reason, stage=stage, at=at, cause_id=cause_id)

    def record(self, fact: type[JobEvent], inbound: ev.Event, at: datetime) -> None:
        """Record what an inbound event says (the saga's `*Recorded` facts): the stored event takes the
        inbound event's fields of the same names, as plain values, and names it as its cause."""
        fields = {name: msgspec.to_builtins(getattr(inbound, name)) for name in fact.own_fields()}
        self.trigger_event(fact, **fields, at=at, cause_id=inbound.event_id)

    # -- stored events: decisions, published as contract events (mapping.py) -------------------

    class PodRequested(JobEvent):
        """Published: the podmanager provisions pod `pod_name` (its idempotency key) for `attempt`."""

        attempt: int
        pod_name: str
        gpu_types: list[str]
        model: str
        policy: str
        resume_from: str | None

        def apply(self, job: Job) -> None:
            job.attempt = self.attempt
            job.status = str(JobStatus.PROVISIONING)
            job.stage = "provisioning"
            job.resume_from = self.resume_from
            job.pods = {
                **job.pods,
                self.pod_name: {
                    "attempt": self.attempt,
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
            job._timing("provisioning", start=self.at)
            job._watch("provisioning", self.at)

    class RunRequested(JobEvent):
        """Published: the podmanager starts the run on the ready pod, from `resume_from` if set."""

        attempt: int
        run_id: str
        pod_name: str
        artifact_prefix: str
        resume_from: str | None
        spec: dict[str, Any] | None = None  # None in events stored before it was carried
        run: dict[str, Any] | None = None

        def apply(self, job: Job) -> None:
            job.run_id = self.run_id
            job.status = str(JobStatus.RUNNING)
            job.stage = "starting"
            job._pod(self.pod_name, state="ready")
            job._timing("provisioning", end=self.at)
            job._timing("running", start=self.at)
            job._watch("starting", self.at)

    class PodTeardownRequested(JobEvent):
        """Published: the podmanager terminates the pod; asked again while no PodTerminated comes."""

        attempt: int
        pod_name: str
        pod_id: str | None
        reason: str

        def apply(self, job: Job) -> None:
            requests = int(job.pods[self.pod_name]["teardown_requests"]) + 1
            due_at = self.at + TEARDOWN_RETRY_AFTER
            job._pod(self.pod_name, state="teardown", teardown_requests=requests, teardown_due_at=due_at)

    class ReportRequested(JobEvent):
        """Published: the reporter writes the report from the engine's artifacts."""

        artifact_prefix: str
        artifacts: list[dict[str, Any]]

        def apply(self, job: Job) -> None:
            job.status = str(JobStatus.REPORTING)
            job.stage = "reporting"
            job._timing("reporting", start=self.at)
            job._watch("reporting", self.at)

    class JobCancellationRequested(JobEvent):
        """Published: a user asked to cancel; the pods are torn down before JobCancelled."""

        requested_by: str | None
        reason: str

        def apply(self, job: Job) -> None:
            job.status = str(JobStatus.CANCELLING)
            job.stage = "cancelling"
            job.cancel_reason = self.reason
            job._watch(None, self.at)

    class JobCompleted(JobEvent):
        """Published: terminal, the report is written and no pod is left."""

        final_prices: dict[str, float]
        verdict: str | None
        report_key: str | None

        def apply(self, job: Job) -> None:
            job._finish(JobStatus.COMPLETED, "completed", self.at)

    class JobFailed(JobEvent):
        """Published: terminal, with the reason and the stage it failed in."""

        reason: str
        stage: str

        def apply(self, job: Job) -> None:
            job.error = self.reason
            job._finish(JobStatus.FAILED, self.stage, self.at)

    class JobCancelled(JobEvent):
        """Published: terminal, cancelled and no pod is left."""

        reason: str

        def apply(self, job: Job) -> None:
            job._finish(JobStatus.CANCELLED, "cancelled", self.at)

    # -- stored events: facts recorded for the saga (internal), in the order of a job's life ---

    class PodProvisionRecorded(JobEvent):
        """The podmanager's PodProvisioned: the pod has an id, a provider and a price."""

        pod_name: str
        pod_id: str
        provider: str
        gpu_type: str | None
        cost_per_hour: float | None

        def apply(self, job: Job) -> None:
            live = job.pods[self.pod_name]["state"] == "requested"
            job._pod(
                self.pod_name,
                pod_id=self.pod_id,
                provider=self.provider,
                gpu_type=self.gpu_type,
                cost_per_hour=self.cost_per_hour,
                **({"state": "provisioned"} if live else {}),
            )
            if live and self.pod_name == pod_name_for(job.job_id, job.attempt) and not job.is_winding_down:
                job.stage = "health"
                job._watch("health", self.at)

    class RunStartRecorded(JobEvent):
        """The engine's RunStarted: the run is alive."""

        run_id: str
        agents: int
        rounds: int

        def apply(self, job: Job) -> None:
            job.agents, job.rounds = self.agents, self.rounds
            job._alive(self.at)

    class RunningWatchdogExtended(JobEvent):
        """The running watchdog was due, but the run reported progress since (RunProgressed: telemetry
        on the bus, not stored here): the saga decided to wait another period from that progress."""

        run_id: str
        round: int
        progress_at: datetime

        def apply(self, job: Job) -> None:
            job._watch("running", self.progress_at)

    class ProgressRecorded(JobEvent):
        """Stored by versions that kept every round on the aggregate; replayed, never recorded now
        (progress is telemetry: docs/orchestrator.md#progress)."""

        run_id: str
        round: int
        rounds: int
        prices: dict[str, float]

        def apply(self, job: Job) -> None:
            job.round = max(job.round, self.round)
            job.rounds = self.rounds or job.rounds
            if self.prices:
                job.prices = dict(self.prices)
            job._alive(self.at)

    class CheckpointRecorded(JobEvent):
        """The engine's RunCheckpointed: a later attempt resumes from `checkpoint_key`."""

        run_id: str
        round: int
        checkpoint_key: str

        def apply(self, job: Job) -> None:
            job.checkpoint_key = self.checkpoint_key
            if not job.is_winding_down:
                job._watch("running", self.at)

    class RunCompletionRecorded(JobEvent):
        """The engine's RunCompleted: its artifacts and final prices."""

        run_id: str
        artifacts: list[dict[str, Any]]
        final_prices: dict[str, float]
        engine_seconds: float

        def apply(self, job: Job) -> None:
            job._add_artifacts(self.artifacts)
            job.final_prices = dict(self.final_prices)
            if self.final_prices:
                job.prices = dict(self.final_prices)
            job.round = max(job.round, job.rounds)
            job._timing("running", end=self.at)
            job._watch(None, self.at)

    class ReportRecorded(JobEvent):
        """The reporter's ReportWritten: the report and its artifacts."""

        report_key: str
        artifacts: list[dict[str, Any]]
        verdict: str | None

        def apply(self, job: Job) -> None:
            job._add_artifacts(self.artifacts)
            job.report_key = self.report_key
            job.report_written = True
            job.verdict = self.verdict
            job._timing("reporting", end=self.at)
            job._watch(None, self.at)

    class GraphRecorded(JobEvent):
        """An annotation, allowed on any job (even a finished one): never changes the status."""

        graph_key: str | None
        ok: bool
        detail: str

        def apply(self, job: Job) -> None:
            if self.ok:
                job.graph_key = self.graph_key

    class AttemptFailed(JobEvent):
        """An attempt failed and another follows (on a fresh pod)."""

        attempt: int
        stage: str
        reason: str

        def apply(self, job: Job) -> None:
            job.error = f"attempt {self.attempt} failed in {self.stage}: {self.reason}"

    class FailureBegan(JobEvent):
        """The job will fail once its pods are gone (JobFailed follows then)."""

        reason: str
        stage: str

        def apply(self, job: Job) -> None:
            job.failure = {"reason": self.reason, "stage": self.stage}
            job.error = self.reason
            job.stage = "failing"
            job._watch(None, self.at)

    class PodTerminationRecorded(JobEvent):
        """The podmanager's PodTerminated: the pod is gone, with what it cost."""

        pod_name: str
        pod_id: str | None
        billed_seconds: float | None
        cost: float | None

        def apply(self, job: Job) -> None:
            pod = job.pods[self.pod_name]
            job._pod(
                self.pod_name,
                state="terminated",
                teardown_due_at=None,
                pod_id=self.pod_id or pod["pod_id"],
                cost=self.cost if self.cost is not None else pod["cost"],
            )

    class PodAbandoned(JobEvent):
        """Teardown was asked for too many times without an answer; the reaper owns it now."""

        pod_name: str
        reason: str

        def apply(self, job: Job) -> None:
            job._pod(self.pod_name, state="abandoned", teardown_due_at=None)
