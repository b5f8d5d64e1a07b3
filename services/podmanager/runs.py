"""Running a job on its pod: submit to the worker, follow its progress, verify what it uploaded.

The RunRequested message stays un-acked while the run is followed (the caller keeps it alive), so a
podmanager that crashes mid-run gets it again after restart: it resubmits (the worker is idempotent
on run id), follows from the first progress event, and republishes events with the same ids (dropped
by JetStream as duplicates).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from contracts.artifacts import ENGINE_ARTIFACTS, ArtifactRef
from contracts.events import Event, RunRequested
from contracts.objects import checkpoint_key
from contracts.worker import ProgressEvent, RunSpec, RunSubmission
from services.podmanager.progress import (
    RunContext,
    artifact_object_key,
    build_run_spec,
    missing_artifacts,
    progress_event,
    run_completed,
    run_failed,
    stored_problem,
)
from services.podmanager.providers.base import PodProvider
from services.podmanager.worker_client import WorkerClient, WorkerRejected, WorkerUnreachable

log = logging.getLogger(__name__)

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 limit
NO_SPEC = "the RunRequested carries no run spec (published by an orchestrator older than this podmanager)"


class EventBus(Protocol):
    async def publish(self, event: Any) -> Any: ...


class Store(Protocol):
    async def presign_put(self, key: str, expires: int = 3600, content_type: str | None = None) -> str: ...
    async def presign_get(self, key: str, expires: int = 900) -> str: ...
    async def head(self, key: str) -> dict[str, Any] | None: ...


@dataclass(kw_only=True)
class RunFollower:
    """Submits RunRequested runs to pods and turns their progress into domain events."""

    bus: EventBus
    store: Store
    provider: PodProvider
    http: httpx.AsyncClient
    is_torn_down: Callable[[str], Awaitable[bool]]
    llm_url: str | None  # the platform's LLM server for the pods (None: a RunPod pod serves its own)
    lost_after_s: float = 60.0
    poll_wait_s: float = 25.0
    retry_every_s: float = 1.0

    async def _publish(self, event: Event) -> None:
        await self.bus.publish(event)

    async def follow(self, req: RunRequested) -> None:
        """Run `req` to its end: RunCompleted or RunFailed, or nothing if the pod was torn down."""
        if await self.is_torn_down(req.pod_name):
            log.info("run %s: pod %s was torn down; nothing to run", req.run_id, req.pod_name)
            return
        if req.spec is None or req.run is None:
            # Published before RunRequested carried the spec (docs/events.md#runrequested): a retry's
            # RunRequested, made by the orchestrator of today, carries it.
            ctx = RunContext(req, agents=0, rounds=0, checkpoint_key=checkpoint_key(req.job_id))
            await self._publish(run_failed(ctx, NO_SPEC, retryable=True))
            return
        spec = build_run_spec(req.spec, req.run, self.llm_url)
        ctx = RunContext(
            req, agents=spec.agents, rounds=spec.rounds, checkpoint_key=checkpoint_key(req.job_id)
        )
        pod = await self.provider.find(req.pod_name)
        if pod is None or pod.status in ("exited", "terminated"):
            if not await self.is_torn_down(req.pod_name):
                state = "does not exist" if pod is None else f"has {pod.status}"
                await self._publish(run_failed(ctx, f"pod {req.pod_name} {state}", retryable=True))
            return
        client = WorkerClient(self.provider.endpoint(pod), self.http)
        submission = await self._submission(req, spec, req.run.timeout_s)
        if await self._submit(ctx, client, submission):
            await self._follow(ctx, client)

    async def _submission(self, req: RunRequested, spec: RunSpec, timeout_s: int) -> RunSubmission:
        expires = min(MAX_PRESIGN_S, int(timeout_s) + 3600)
        urls = {
            name: await self.store.presign_put(
                artifact_object_key(req.artifact_prefix, req.job_id, name), expires
            )
            for name in ENGINE_ARTIFACTS
        }
        resume = await self.store.presign_get(req.resume_from, expires) if req.resume_from else None
        return RunSubmission(
            run_id=req.run_id,
            job_id=req.job_id,
            spec=spec,
            upload_urls=urls,
            checkpoint_put_url=await self.store.presign_put(checkpoint_key(req.job_id), expires),
            resume_get_url=resume,
        )

    async def _submit(self, ctx: RunContext, client: WorkerClient, submission: RunSubmission) -> bool:
        """POST /runs, retrying while the worker is unreachable; False when the run ended here."""
        first_failure: float | None = None
        while True:
            try:
                await client.submit(submission)
                log.info("run %s submitted to pod %s", ctx.run_id, ctx.request.pod_name)
                return True
            except WorkerRejected as exc:
                if not await self.is_torn_down(ctx.request.pod_name):
                    await self._publish(
                        run_failed(ctx, f"the worker refused the run: {exc}", retryable=False)
                    )
                return False
            except WorkerUnreachable as exc:
                first_failure = first_failure or time.monotonic()
                if await self._gave_up(ctx, exc, first_failure):
                    return False

    async def _follow(self, ctx: RunContext, client: WorkerClient) -> None:
        after = 0
        first_failure: float | None = None
        while True:
            try:
                page = await client.events(ctx.run_id, after, self.poll_wait_s)
            except WorkerUnreachable as exc:
                first_failure = first_failure or time.monotonic()
                if await self._gave_up(ctx, exc, first_failure):
                    return
                continue
            except WorkerRejected as exc:
                if not await self.is_torn_down(ctx.request.pod_name):
                    reason = (
                        "the worker no longer knows the run (it restarted)"
                        if exc.status == 404
                        else f"following the run failed: {exc}"
                    )
                    await self._publish(run_failed(ctx, reason, retryable=exc.status == 404))
                return
            first_failure = None
            for pe in page.events:
                after = max(after, pe.seq)
                event = progress_event(pe, ctx)
                if event is not None:
                    await self._publish(event)
                elif pe.kind in ("completed", "failed", "cancelled"):
                    await self._finish(ctx, pe)
                    return

    async def _finish(self, ctx: RunContext, pe: ProgressEvent) -> None:
        if pe.kind == "completed":
            await self._complete(ctx, pe)
            return
        if await self.is_torn_down(ctx.request.pod_name):
            return  # a deliberate teardown (cancel): not a failure of the run
        what = "failed on the pod" if pe.kind == "failed" else "was cancelled on the pod"
        await self._publish(run_failed(ctx, f"the run {what}: {pe.message or 'no detail'}", retryable=False))

    async def _gave_up(self, ctx: RunContext, exc: Exception, since: float) -> bool:
        """After a failed call: True (and RunFailed unless torn down) when the pod is gone or lost too long."""
        name = ctx.request.pod_name
        if await self.is_torn_down(name):
            log.info("run %s: pod %s torn down; following stops", ctx.run_id, name)
            return True
        pod = await self.provider.find(name)
        if pod is None or pod.status in ("exited", "terminated"):
            if await self.is_torn_down(name):
                return True
            state = "disappeared" if pod is None else f"{pod.status} (the worker process died)"
            await self._publish(run_failed(ctx, f"pod {name} {state} during the run", retryable=True))
            return True
        lost = time.monotonic() - since
        if lost > self.lost_after_s:
            await self._publish(
                run_failed(ctx, f"lost contact with the pod worker for {lost:.0f} s ({exc})", retryable=True)
            )
            return True
        await asyncio.sleep(self.retry_every_s)
        return False

    async def _complete(self, ctx: RunContext, pe: ProgressEvent) -> None:
        """Check every artifact in the object store with a HEAD (size and MD5), then RunCompleted."""
        req = ctx.request
        missing = missing_artifacts(ENGINE_ARTIFACTS, pe.artifacts)
        if missing:
            await self._publish(
                run_failed(ctx, f"the worker did not upload {', '.join(missing)}", retryable=False)
            )
            return
        reported = {d.name: d for d in pe.artifacts}
        refs: list[ArtifactRef] = []
        problems: list[str] = []
        for name in ENGINE_ARTIFACTS:
            digest = reported[name]
            key = artifact_object_key(req.artifact_prefix, req.job_id, name)
            problem = stored_problem(digest, await self.store.head(key))
            if problem:
                problems.append(problem)
            else:
                refs.append(ArtifactRef(name=name, key=key, size=digest.size, sha256=digest.sha256))
        if problems:
            await self._publish(
                run_failed(ctx, "artifacts failed verification: " + "; ".join(problems), retryable=False)
            )
            return
        await self._publish(run_completed(ctx, pe, refs))
        log.info("run %s completed with %d verified artifacts", ctx.run_id, len(refs))
