"""Stored Job events -> contract events (contracts/events.py) with their envelope.

Only decisions are published; recorded inbound facts (PodProvisionRecorded, ProgressRecorded, ...)
map to None, since the service that observed them already published them. The event id is
deterministic in (job_id, aggregate version), so relaying the same stored event twice yields the same
`Nats-Msg-Id` and JetStream drops the repeat.
"""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import events as ev
from contracts.artifacts import ArtifactRef
from contracts.spec import JobSpec, ResolvedRun

PUBLISHED = frozenset(
    {
        "JobCreated",
        "PodRequested",
        "RunRequested",
        "PodTeardownRequested",
        "ReportRequested",
        "JobCancellationRequested",
        "JobCompleted",
        "JobFailed",
        "JobCancelled",
    }
)


def job_event_id(job_id: str, version: int) -> str:
    """The contract event id of the job's stored event at `version`."""
    return ev.deterministic_event_id(job_id, "orchestrator", "v", version)


def stored_name(domain_event: Any) -> str:
    return type(domain_event).__name__


def _spec_and_run(d: dict[str, Any]) -> dict[str, Any]:
    """The job's spec and resolved run as contract types; None where a stored event predates them
    (a RunRequested stored before it carried them)."""
    spec, run = d.get("spec"), d.get("run")
    return {
        "spec": None if spec is None else msgspec.convert(spec, JobSpec),
        "run": None if run is None else msgspec.convert(run, ResolvedRun),
    }


def to_contract(domain_event: Any, job_id: str) -> ev.Event | None:
    """The contract event for one stored Job event, or None for an internal (recorded) fact."""
    name = stored_name(domain_event)
    if name not in PUBLISHED:
        return None
    d = domain_event.__dict__
    envelope: dict[str, Any] = {
        "event_id": job_event_id(job_id, domain_event.originator_version),
        "job_id": job_id,
        "occurred_at": d["at"],
        "correlation_id": job_id,
        "causation_id": d.get("cause_id"),
        "traceparent": d.get("traceparent"),
    }
    if name == "JobCreated":
        return ev.JobCreated(**envelope, owner_id=d["owner_id"], **_spec_and_run(d), retry_of=d["retry_of"])
    if name == "PodRequested":
        return ev.PodRequested(
            **envelope,
            attempt=d["attempt"],
            pod_name=d["pod_name"],
            gpu_types=list(d["gpu_types"]),
            model=d["model"],
            policy=d["policy"],
        )
    if name == "RunRequested":
        return ev.RunRequested(
            **envelope,
            attempt=d["attempt"],
            run_id=d["run_id"],
            pod_name=d["pod_name"],
            artifact_prefix=d["artifact_prefix"],
            resume_from=d["resume_from"],
            **_spec_and_run(d),
        )
    if name == "PodTeardownRequested":
        return ev.PodTeardownRequested(
            **envelope, attempt=d["attempt"], pod_name=d["pod_name"], pod_id=d["pod_id"], reason=d["reason"]
        )
    if name == "ReportRequested":
        return ev.ReportRequested(
            **envelope,
            artifact_prefix=d["artifact_prefix"],
            artifacts=msgspec.convert(d["artifacts"], list[ArtifactRef]),
        )
    if name == "JobCancellationRequested":
        return ev.JobCancellationRequested(**envelope, requested_by=d["requested_by"], reason=d["reason"])
    if name == "JobCompleted":
        return ev.JobCompleted(
            **envelope, final_prices=dict(d["final_prices"]), verdict=d["verdict"], report_key=d["report_key"]
        )
    if name == "JobFailed":
        return ev.JobFailed(**envelope, reason=d["reason"], stage=d["stage"])
    return ev.JobCancelled(**envelope, reason=d["reason"])
