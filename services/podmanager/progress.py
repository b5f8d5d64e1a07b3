"""From the worker's progress to domain events, and the checks on a finished run's artifacts (pure).

Every event id is deterministic (job, type, attempt[, round]): a podmanager that restarts and follows
a run again from its first progress event republishes the same ids, which JetStream drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from contracts.artifacts import ArtifactRef
from contracts.events import (
    Event,
    RunCheckpointed,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunProgressed,
    RunRequested,
    RunStarted,
    deterministic_event_id,
    new_event,
)
from contracts.objects import artifact_key
from contracts.spec import JobSpec, ResolvedRun
from contracts.worker import ArtifactDigest, ProgressEvent, RunSpec

R = TypeVar("R", bound=RunEvent)


@dataclass(frozen=True)
class RunContext:
    """What the follower knows about the run it follows."""

    request: RunRequested
    agents: int
    rounds: int
    checkpoint_key: str

    @property
    def run_id(self) -> str:
        return self.request.run_id

    def event(self, cls: type[R], *id_parts: object, **fields: Any) -> R:
        """An event of this run, caused by its RunRequested, with the id (job, type, attempt, *id_parts)."""
        req = self.request
        event_id = deterministic_event_id(req.job_id, cls.__name__, req.attempt, *id_parts)
        return new_event(cls, req.job_id, cause=req, event_id=event_id, run_id=req.run_id, **fields)


def artifact_object_key(prefix: str, job_id: str, name: str) -> str:
    """The object key of one engine artifact: under the requested prefix, else the job's artifact prefix."""
    return f"{prefix.rstrip('/')}/{name}" if prefix else artifact_key(job_id, name)


def progress_event(pe: ProgressEvent, ctx: RunContext) -> Event | None:
    """The domain event for a started/round/checkpoint progress entry; None for the other kinds."""
    if pe.kind == "started":
        return ctx.event(
            RunStarted, attempt=ctx.request.attempt, agents=ctx.agents, rounds=pe.rounds or ctx.rounds
        )
    if pe.kind == "round":
        return ctx.event(
            RunProgressed,
            pe.round,
            round=pe.round,
            rounds=pe.rounds or ctx.rounds,
            prices=dict(pe.prices),
            counters=dict(pe.counters),
            posts=list(pe.posts),
        )
    if pe.kind == "checkpoint":
        return ctx.event(RunCheckpointed, pe.round, round=pe.round, checkpoint_key=ctx.checkpoint_key)
    return None


def run_failed(ctx: RunContext, reason: str, *, retryable: bool) -> RunFailed:
    """The run's failure (one per attempt: a repeat is dropped as a duplicate)."""
    return ctx.event(RunFailed, reason=reason, retryable=retryable)


def run_completed(ctx: RunContext, pe: ProgressEvent, artifacts: list[ArtifactRef]) -> RunCompleted:
    """The run's completion, carrying each verified artifact's key, size and SHA-256."""
    return ctx.event(
        RunCompleted,
        artifact_prefix=ctx.request.artifact_prefix,
        artifacts=artifacts,
        final_prices=dict(pe.prices),
        engine_seconds=pe.engine_seconds,
        counters=dict(pe.counters),
    )


def missing_artifacts(expected: tuple[str, ...] | list[str], digests: list[ArtifactDigest]) -> list[str]:
    """Names the engine must deliver that the worker did not report as uploaded."""
    reported = {d.name for d in digests}
    return [name for name in expected if name not in reported]


def stored_problem(digest: ArtifactDigest, head: dict[str, Any] | None) -> str | None:
    """Why the stored object (its HEAD) is not what the worker says it uploaded, or None when it is.

    The store refused the upload unless the bytes matched the MD5 the worker sent with them
    (Content-MD5), and keeps that MD5 as the ETag of the single-part PUT: size and ETag show that the
    stored bytes are the worker's, whose SHA-256 it reported, without reading them back
    (docs/podmanager.md#artifact-verification).
    """
    if head is None:
        return f"{digest.name}: not in the object store"
    if digest.md5 is None:
        return f"{digest.name}: the worker reported no MD5 to check the stored object against"
    size = head.get("ContentLength")
    if size != digest.size:
        return f"{digest.name}: stored {size} bytes, the worker uploaded {digest.size}"
    if str(head.get("ETag", "")).strip('"').lower() != digest.md5.lower():
        return f"{digest.name}: the stored object's MD5 (ETag) differs from the worker's"
    return None


def build_run_spec(spec: JobSpec, run: ResolvedRun, llm_url: str | None) -> RunSpec:
    """The engine's input from the job's spec and resolved run (as RunRequested carries them);
    `llm_url` None lets the pod use its own LLM server (RunPod) instead of the platform's (local)."""
    return RunSpec(
        seed_text=spec.seed_text,
        goal=spec.goal,
        forecast_days=spec.forecast_days,
        markets=list(run.markets),
        agents=run.agents,
        rounds=run.rounds,
        policy="llm" if str(run.policy) == "llm" else "heuristic",
        random_seed=run.random_seed,
        model=run.model,
        llm_url=llm_url,
    )
