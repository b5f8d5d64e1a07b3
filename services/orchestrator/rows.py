"""The `jobs` projection row (the columns the gateway reads) as a pure function of the Job aggregate.

The projection folds stored events into aggregates and writes this row, so a row rebuilt from the log
equals the live one by construction. The CreateJob reply carries the same dict.
"""

from __future__ import annotations

from typing import Any

from contracts.ids import market_ids
from services.orchestrator.domain.job import Job, pod_name_for
from services.orchestrator.mapping import job_event_id

JSON_COLUMNS = ("markets", "prices", "final_prices", "pod", "artifacts", "timings")
COLUMNS = (
    "job_id",
    "owner_id",
    "status",
    "stage",
    "tier",
    "goal",
    "policy",
    "agents",
    "rounds",
    "round",
    "attempt",
    "created_at",
    "updated_at",
    "finished_at",
    "markets",
    "prices",
    "final_prices",
    "verdict",
    "error",
    "pod",
    "artifacts",
    "report_key",
    "graph_key",
    "timings",
    "retry_of",
    "last_event_id",
    "version",
)


def _pod(job: Job) -> dict[str, Any] | None:
    if not job.attempt:
        return None
    name = pod_name_for(job.job_id, job.attempt)
    pod = job.pods.get(name, {})
    costs = [p["cost"] for p in job.pods.values() if p.get("cost") is not None]
    return {
        "provider": pod.get("provider"),
        "pod_name": name,
        "pod_id": pod.get("pod_id"),
        "gpu_type": pod.get("gpu_type"),
        "cost_per_hour": pod.get("cost_per_hour"),
        "cost": round(sum(costs), 6) if costs else None,
        "state": pod.get("state"),
    }


def job_row(job: Job) -> dict[str, Any]:
    """The projection row for this job (datetimes as datetimes; JSON columns as Python values)."""
    specs = job.run.get("markets", [])
    markets = [
        {"market_id": mid, "question": m.get("question"), "initial_price_yes": m.get("initial_price_yes")}
        for mid, m in zip(market_ids(str(m.get("question", "")) for m in specs), specs, strict=True)
    ]
    return {
        "job_id": job.job_id,
        "owner_id": job.owner_id,
        "status": str(job.status),
        "stage": job.stage,
        "tier": str(job.run.get("tier", job.spec.get("tier", ""))),
        "goal": str(job.spec.get("goal", "")),
        "policy": str(job.run.get("policy", "")),
        "agents": int(job.agents),
        "rounds": int(job.rounds),
        "round": int(job.round),
        "attempt": int(job.attempt),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
        "markets": markets,
        "prices": dict(job.prices),
        "final_prices": dict(job.final_prices),
        "verdict": job.verdict,
        "error": job.error,
        "pod": _pod(job),
        "artifacts": list(job.artifacts),
        "report_key": job.report_key,
        "graph_key": job.graph_key,
        "timings": dict(job.timings),
        "retry_of": job.retry_of,
        "last_event_id": job_event_id(job.job_id, job.version),
        "version": int(job.version),
    }
