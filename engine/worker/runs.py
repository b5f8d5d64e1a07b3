"""Runs on this pod: state, progress events for the long-poll, and the execution of one run.

`engine.simulate` is synchronous and CPU-bound, so it runs in a worker thread; its callbacks hop
back onto the event loop (`call_soon_threadsafe`) to append progress events, and checkpoint
uploads block the engine thread until the checkpoint is stored (so a checkpoint event means the
bytes are safe). Artifacts are uploaded and verified before `completed` is emitted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from contracts.worker import (
    POST_PREVIEW_LIMIT,
    ArtifactDigest,
    ProgressEvent,
    RunState,
    RunStatusBody,
    RunSubmission,
)
from engine.worker import transfer
from engine.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from engine.simulation import RoundReport

log = logging.getLogger(__name__)

SimulateFn = Callable[..., Any]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
CHAT_TAIL_KEEP = 5000


class RunConflict(Exception):
    """Another run is active on this pod."""


class RunRecord:
    """One run's state. Mutated only on the event loop's thread."""

    def __init__(self, submission: RunSubmission) -> None:
        self.submission = submission
        self.run_id = submission.run_id
        self.status: RunState = "running"
        self.round = 0
        self.rounds = submission.spec.rounds
        self.counters: dict[str, float] = {}
        self.error: str | None = None
        self.artifacts: list[ArtifactDigest] = []
        self.engine_seconds = 0.0
        self.events: list[ProgressEvent] = []
        self.chat: collections.deque[dict[str, Any]] = collections.deque(maxlen=CHAT_TAIL_KEEP)
        self.stop = threading.Event()
        self.task: asyncio.Task[None] | None = None
        self._tick = asyncio.Event()

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def emit(self, kind: str, **fields: Any) -> None:
        """Append a progress event (seq without gaps) and wake the long-pollers."""
        event = ProgressEvent(seq=len(self.events) + 1, kind=kind, rounds=self.rounds, **fields)  # type: ignore[arg-type]
        self.events.append(event)
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def wait_events(self, after: int, wait_s: float) -> list[ProgressEvent]:
        """Events with seq > after, waiting up to `wait_s` for the first one (none if terminal)."""
        deadline = time.monotonic() + wait_s
        while len(self.events) <= after and not self.terminal:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            tick = self._tick
            try:
                await asyncio.wait_for(tick.wait(), remaining)
            except TimeoutError:
                break
        return self.events[after:] if after >= 0 else list(self.events)

    def body(self) -> RunStatusBody:
        return RunStatusBody(
            run_id=self.run_id,
            status=self.status,
            round=self.round,
            rounds=self.rounds,
            counters=dict(self.counters),
            error=self.error,
            artifacts=list(self.artifacts),
            engine_seconds=self.engine_seconds,
        )


class RunManager:
    """Accepts runs (one active at a time), executes them, keeps their records for queries."""

    def __init__(self, settings: WorkerSettings, simulate: SimulateFn | None = None) -> None:
        self.settings = settings
        self._simulate = simulate
        self.runs: dict[str, RunRecord] = {}
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.settings.transfer_timeout_s)
        return self._http

    def active(self) -> RunRecord | None:
        return next((r for r in self.runs.values() if not r.terminal), None)

    def submit(self, submission: RunSubmission) -> tuple[RunRecord, bool]:
        """Start a run, or return the existing one with that id. Returns (record, created)."""
        existing = self.runs.get(submission.run_id)
        if existing is not None:
            return existing, False
        active = self.active()
        if active is not None:
            raise RunConflict(f"run {active.run_id} is active on this pod; cancel it or wait for it to end")
        spec = submission.spec
        if spec.policy == "llm" and not (spec.llm_url or self.settings.llm_url):
            raise ValueError("spec.policy is 'llm' but this worker has no LLM endpoint (SIMSWARM_LLM_URL)")
        spec = msgspec.structs.replace(
            spec, llm_url=spec.llm_url or self.settings.llm_url, model=spec.model or self.settings.model
        )
        record = RunRecord(msgspec.structs.replace(submission, spec=spec))
        self.runs[record.run_id] = record
        record.task = asyncio.get_running_loop().create_task(
            self._execute(record), name=f"run-{record.run_id}"
        )
        log.info(
            "run %s accepted: policy=%s agents=%d rounds=%d",
            record.run_id,
            spec.policy,
            spec.agents,
            spec.rounds,
        )
        return record, True

    def cancel(self, record: RunRecord) -> None:
        if not record.terminal:
            log.info("run %s: cancellation requested", record.run_id)
            record.stop.set()

    async def aclose(self) -> None:
        """Cancel what runs, wait briefly, close the HTTP client."""
        for record in self.runs.values():
            record.stop.set()
        tasks = [r.task for r in self.runs.values() if r.task is not None and not r.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if self._http is not None:
            await self._http.aclose()

    # -- execution --------------------------------------------------------------------------------

    def _finish(self, record: RunRecord, status: RunState, **fields: Any) -> None:
        kind = {"completed": "completed", "failed": "failed", "cancelled": "cancelled"}[status]
        record.status = status
        record.emit(kind, round=record.round, counters=dict(record.counters), **fields)

    async def _execute(self, record: RunRecord) -> None:
        out_dir = self.settings.work_dir / record.run_id
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        record.emit("started", round=0)
        try:
            resume = await self._fetch_resume(record)
            result = await self._run_engine(record, out_dir, resume)
            if result is None:
                self._finish(record, "cancelled", message="cancelled on request")
                return
            record.engine_seconds = float(result.engine_seconds)
            record.counters.update({k: float(v) for k, v in (result.counters or {}).items()})
            self._load_chat_tail(record, out_dir)
            record.artifacts = await self._upload_artifacts(record, Path(result.out_dir), list(result.files))
            if record.stop.is_set():
                self._finish(record, "cancelled", message="cancelled during upload")
                return
            self._finish(
                record,
                "completed",
                artifacts=list(record.artifacts),
                engine_seconds=record.engine_seconds,
                prices=dict(result.final_prices or {}),
            )
            log.info("run %s completed in %.1f s of engine time", record.run_id, record.engine_seconds)
        except transfer.TransferError as exc:
            record.error = str(exc)
            log.error("run %s failed: %s", record.run_id, record.error)
            self._finish(record, "failed", message=record.error)
        except Exception as exc:  # the engine's failure becomes the run's, with a clear message
            record.error = f"{type(exc).__name__}: {exc}"
            log.exception("run %s failed", record.run_id)
            self._finish(record, "failed", message=record.error)
        except asyncio.CancelledError:
            record.stop.set()
            record.error = "worker shutting down"
            self._finish(record, "cancelled", message=record.error)
            raise

    async def _fetch_resume(self, record: RunRecord) -> bytes | None:
        url = record.submission.resume_get_url
        if not url:
            return None
        try:
            data = await transfer.get_bytes(
                self.http,
                url,
                what="the resume checkpoint",
                attempts=self.settings.upload_attempts,
                backoff_s=self.settings.upload_backoff_s,
            )
        except transfer.NotFound:
            log.warning("run %s: resume checkpoint not found; starting from round 0", record.run_id)
            return None
        log.info("run %s: resuming from a %d-byte checkpoint", record.run_id, len(data))
        return data

    async def _run_engine(self, record: RunRecord, out_dir: Path, resume: bytes | None) -> Any:
        """Run the engine in a thread; None when it was cancelled."""
        import engine

        simulate = self._simulate or engine.simulate
        loop = asyncio.get_running_loop()

        def on_round(report: Any) -> None:
            loop.call_soon_threadsafe(self._on_round, record, report)

        def sink(round_: int, data: bytes) -> None:
            future = asyncio.run_coroutine_threadsafe(self._upload_checkpoint(record, round_, data), loop)
            future.result()

        checkpoint_sink = sink if record.submission.checkpoint_put_url else None
        try:
            return await asyncio.to_thread(
                simulate,
                record.submission.spec,
                out_dir,
                progress=on_round,
                should_stop=record.stop.is_set,
                checkpoint_sink=checkpoint_sink,
                resume_from=resume,
                policy=None,
            )
        except engine.SimulationCancelled:
            return None

    def _on_round(self, record: RunRecord, report: RoundReport) -> None:
        record.round = int(report.round)
        record.rounds = int(report.rounds)
        record.counters.update({k: float(v) for k, v in report.counters.items()})
        record.counters["active_agents"] = float(report.active_agents)
        record.chat.extend(msgspec.to_builtins(report.chat))
        record.emit(
            "round",
            round=record.round,
            prices=dict(report.prices),
            counters=dict(record.counters),
            posts=report.posts[:POST_PREVIEW_LIMIT],
        )

    async def _upload_checkpoint(self, record: RunRecord, round_: int, data: bytes) -> None:
        url = record.submission.checkpoint_put_url
        assert url is not None
        try:
            retries = await transfer.put_bytes(
                self.http,
                url,
                data,
                what=f"checkpoint of round {round_}",
                content_type="application/octet-stream",
                attempts=self.settings.upload_attempts,
                backoff_s=self.settings.upload_backoff_s,
            )
        except transfer.TransferError as exc:
            # A lost checkpoint costs only resumability; the run itself goes on.
            log.warning("run %s: %s", record.run_id, exc)
            record.counters["checkpoint_failures"] = record.counters.get("checkpoint_failures", 0.0) + 1
            return
        record.counters["upload_retries"] = record.counters.get("upload_retries", 0.0) + retries
        record.emit("checkpoint", round=round_, message=f"checkpoint of {len(data)} bytes stored")

    async def _upload_artifacts(
        self, record: RunRecord, out_dir: Path, files: list[ArtifactDigest]
    ) -> list[ArtifactDigest]:
        urls = record.submission.upload_urls
        uploaded: list[ArtifactDigest] = []
        for digest in files:
            url = urls.get(digest.name)
            if url is None:
                log.warning("run %s: no upload URL for %s; not uploaded", record.run_id, digest.name)
                continue
            data = await asyncio.to_thread((out_dir / digest.name).read_bytes)
            if len(data) != digest.size or transfer.sha256_hex(data) != digest.sha256:
                raise transfer.TransferError(f"{digest.name} on disk does not match the engine's digest")
            retries = await transfer.put_bytes(
                self.http,
                url,
                data,
                what=digest.name,
                content_type=_content_type(digest.name),
                attempts=self.settings.upload_attempts,
                backoff_s=self.settings.upload_backoff_s,
            )
            record.counters["upload_retries"] = record.counters.get("upload_retries", 0.0) + retries
            uploaded.append(msgspec.structs.replace(digest, md5=transfer.md5_hex(data)))
        missing = sorted(set(urls) - {d.name for d in files})
        if missing:
            log.warning("run %s: the engine produced no %s", record.run_id, ", ".join(missing))
        return uploaded

    def _load_chat_tail(self, record: RunRecord, out_dir: Path) -> None:
        path = out_dir / "chat_log.json"
        if record.chat or not path.exists():
            return
        try:
            entries = msgspec.json.decode(path.read_bytes())
        except (OSError, msgspec.DecodeError):
            return
        if isinstance(entries, list):
            record.chat.extend(entries[-CHAT_TAIL_KEEP:])


def _content_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".md"):
        return "text/markdown"
    return "application/octet-stream"
