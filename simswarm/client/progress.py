"""The progress display of `wait()`: a rich bar on a terminal, nothing elsewhere (logs, notebooks, CI)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from services.gateway.api_models import TimelineEvent

PHASES = {
    "JobCreated": "queued",
    "PodRequested": "provisioning a pod",
    "PodProvisioned": "waiting for the pod's health",
    "PodReady": "pod ready",
    "RunRequested": "submitting the run",
    "RunStarted": "simulating",
    "RunProgressed": "simulating",
    "RunCheckpointed": "simulating",
    "RunCompleted": "writing the report",
    "ReportRequested": "writing the report",
    "GraphBuilt": "writing the report",
    "ReportWritten": "tearing the pod down",
    "PodTeardownRequested": "tearing the pod down",
    "PodTerminated": "finishing",
    "JobCancellationRequested": "cancelling",
    "RunFailed": "run failed; cleaning up",
    "JobCompleted": "completed",
    "JobFailed": "failed",
    "JobCancelled": "cancelled",
}


def want_progress(progress: bool | None, console: Console | None = None) -> bool:
    """`progress` when given; by default only when standard error is a terminal."""
    if progress is not None:
        return progress
    return console.is_terminal if console is not None else sys.stderr.isatty()


class WaitProgress:
    """Phase, round n/N and elapsed time of one job, updated from its events; a no-op when disabled."""

    def __init__(self, job_id: str, *, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            columns = (
                SpinnerColumn(),
                TextColumn("{task.description:<28}"),
                BarColumn(),
                TextColumn("{task.fields[rounds]}"),
                TimeElapsedColumn(),
            )
            self._progress = Progress(*columns, console=console or Console(stderr=True), transient=False)
            self._task = self._progress.add_task(f"job {job_id[:8]}: queued", total=None, rounds="")

    def __enter__(self) -> WaitProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, event: TimelineEvent) -> None:
        if self._progress is None or self._task is None:
            return
        data: dict[str, Any] = event.data or {}
        if event.type in ("RunProgressed", "RunStarted"):
            rounds = int(data.get("rounds") or 0)
            done = int(data.get("round") or 0)
            self._progress.update(
                self._task,
                description="simulating",
                total=rounds or None,
                completed=done,
                rounds=f"round {done}/{rounds}",
            )
        elif event.type in PHASES:
            self._progress.update(self._task, description=PHASES[event.type])
            if event.type in ("JobFailed", "JobCancelled"):
                self._progress.stop_task(self._task)
