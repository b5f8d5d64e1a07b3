"""Builders for inbound events and specs shared by the orchestrator's integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from contracts import events as ev
from contracts.artifacts import ArtifactRef
from contracts.spec import JobSpec
from services.kit.settings import Settings
from services.orchestrator.main import OrchestratorOptions, serve

SPEC = JobSpec(
    seed_text="A brief about a port strike.", goal="Will the strike end by June?", agents=3, rounds=4
)


def new_job_id() -> str:
    return uuid.uuid4().hex


def inbound(cls: type[ev.Event], job_id: str, **fields: Any) -> ev.Event:
    return ev.new_event(cls, job_id, **fields)


def pod(job_id: str, attempt: int = 1) -> str:
    return f"simswarm-{job_id}-a{attempt}"


def happy_path(job_id: str) -> list[ev.Event]:
    """What the pod manager and reporter would say about a job that goes well."""
    run_id = f"{job_id}-a1"
    art = ArtifactRef(name="posts.json", key=f"jobs/{job_id}/artifacts/posts.json", size=2, sha256="0" * 64)
    return [
        inbound(ev.PodProvisioned, job_id, attempt=1, pod_name=pod(job_id), pod_id="p1", provider="local"),
        inbound(ev.PodReady, job_id, attempt=1, pod_name=pod(job_id), pod_id="p1"),
        inbound(ev.RunStarted, job_id, run_id=run_id, attempt=1, agents=3, rounds=4),
        inbound(ev.RunProgressed, job_id, run_id=run_id, round=2, rounds=4, prices={"q": 0.6}),
        inbound(
            ev.RunCompleted,
            job_id,
            run_id=run_id,
            artifact_prefix=f"jobs/{job_id}/artifacts/",
            artifacts=[art],
            final_prices={"q": 0.7},
        ),
        inbound(
            ev.ReportWritten,
            job_id,
            report_key=f"jobs/{job_id}/report/report.md",
            artifacts=[],
            verdict="likely",
        ),
        inbound(ev.PodTerminated, job_id, attempt=1, pod_name=pod(job_id), pod_id="p1", cost=0.12),
    ]


@contextlib.asynccontextmanager
async def running(settings: Settings, opts: OrchestratorOptions) -> AsyncIterator[asyncio.Task[None]]:
    """The orchestrator as `simswarm serve orchestrator` runs it; fails the test if it dies."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, opts))
    try:
        yield task
        assert not task.done(), f"the orchestrator stopped: {task.exception() if task.done() else ''}"
    finally:
        stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 20)
