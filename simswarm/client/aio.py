"""`AsyncClient`: the SDK's one implementation (asyncio). Every method is one REST call of
docs/api.md (or a loop of them), parsed into the gateway's own response models
(services/gateway/api_models.py); the blocking `Client` (sync.py) runs this on a loop of its own."""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from httpx_sse import aconnect_sse
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from services.gateway.api_models import (
    FetchResult,
    GoalResult,
    Job,
    JobGraph,
    JobList,
    PublicConfig,
    Share,
    SimData,
    SimFile,
    TimelineEvent,
)
from simswarm import __version__
from simswarm.client._common import (
    CHUNK,
    DEFAULT_TIMEOUT,
    STREAM_TIMEOUT,
    TERMINAL_EVENTS,
    Downloaded,
    RetryPolicy,
    error_from,
    intact,
    resolve_endpoint,
    spec_body,
    sse_event,
    target_path,
    transport_error,
)
from simswarm.client.errors import (
    ApiError,
    ConnectionFailed,
    IntegrityError,
    StreamInterrupted,
    WaitTimeout,
)
from simswarm.client.progress import WaitProgress, want_progress

M = TypeVar("M", bound=BaseModel)
SETTLE_S = 30.0  # how long the job's row may trail its terminal event
_STALE_URL = frozenset({403, 404, 500, 502, 503, 504})  # a presigned GET's answers worth a fresh URL


class AsyncClient:
    """Asynchronous client of the SimSwarm API.

        async with AsyncClient.from_env() as client:
            job = await client.create(seed_text, "Will X happen within 60 days?", policy="heuristic")
            done = await client.wait(job.job_id)
            await client.download(job.job_id, "./run")

    Requests that fail for a passing reason (429, 502, 503, 504, a broken connection) are retried
    with exponential backoff, or after the server's Retry-After (`retry=RetryPolicy(...)` tunes it);
    `create` sends an Idempotency-Key, so a retried create never makes a second job.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_policy = retry or RetryPolicy()
        self.retries = 0  # retries made so far (every kind), for logs and tests
        agent = {"User-Agent": f"simswarm-sdk/{__version__}"}
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, headers={**agent, "Authorization": f"Bearer {api_key}"}
        )
        # Presigned object-store URLs: never send them the API key.
        self._files = httpx.AsyncClient(timeout=timeout, headers=agent)

    @classmethod
    def from_env(cls, home: Path | None = None, **kwargs: Any) -> AsyncClient:
        """The API of SIMSWARM_API_URL/SIMSWARM_API_KEY, else of the local `simswarm up` ($SIMSWARM_HOME)."""
        url, key = resolve_endpoint(home)
        return cls(url, key, **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._files.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- plumbing ----------------------------------------------------------------------------------

    def _count_retry(self, _state: Any) -> None:
        self.retries += 1

    def _retrying(self, worth_another: Callable[[BaseException], bool]) -> AsyncRetrying:
        """The policy's attempts and waits, retrying the failures `worth_another` accepts."""
        policy = self.retry_policy
        return AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=policy.wait_s,
            reraise=True,
            retry=retry_if_exception(worth_another),
            before_sleep=self._count_retry,
        )

    async def _send(
        self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any
    ) -> httpx.Response:
        async for attempt in self._retrying(lambda e: self.retry_policy.should_retry(e, idempotent)):
            with attempt:
                try:
                    resp = await self._http.request(method, path, **kwargs)
                except httpx.TransportError as exc:
                    raise transport_error(self.base_url, exc) from exc
                if resp.status_code >= 400:
                    raise error_from(resp)
                return resp
        raise AssertionError("unreachable")  # AsyncRetrying re-raises the last error

    async def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate((await self._send(method, path, **kwargs)).json())

    # -- jobs --------------------------------------------------------------------------------------

    async def create(
        self, seed_text: str, goal: str, *, idempotency_key: str | None = None, **spec: Any
    ) -> Job:
        """Submit a job (`tier`, `policy`, `agents`, `rounds`, `forecast_days`, `markets`, `random_seed`, ...).

        The Idempotency-Key (a fresh one unless given) is sent with every attempt, so retries after a
        lost answer return the same job instead of making a second one.
        """
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return await self._model(
            Job, "POST", "/api/jobs", json=spec_body(seed_text, goal, spec), headers=headers
        )

    async def get(self, job_id: str) -> Job:
        """The job: status, stage, progress, timings, pod, markets, prices, verdict, error, artifacts."""
        return await self._model(Job, "GET", f"/api/jobs/{job_id}")

    async def page(self, *, status: str | None = None, page: int = 1, per_page: int = 20) -> JobList:
        """One page of your jobs, newest first."""
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if status:
            params["status"] = status
        return await self._model(JobList, "GET", "/api/jobs", params=params)

    async def list(
        self,
        *,
        status: str | None = None,
        per_page: int = 100,
        limit: int | None = None,
    ) -> AsyncIterator[Job]:
        """Every job of yours (or those in `status`), newest first, fetching pages as needed."""
        seen: set[str] = set()  # a job created while paging shifts the pages: never yield one twice
        number = 1
        while True:
            body = await self.page(status=status, page=number, per_page=per_page)
            for job in body.jobs:
                if limit is not None and len(seen) >= limit:
                    return
                if job.job_id in seen:
                    continue
                seen.add(job.job_id)
                yield job
            if not body.jobs or number * per_page >= body.total:
                return
            number += 1

    async def cancel(self, job_id: str) -> Job:
        """Ask for cancellation (the pod is torn down); the job ends in `cancelled`."""
        return await self._model(Job, "POST", f"/api/jobs/{job_id}/cancel")

    async def retry(self, job_id: str) -> Job:
        """A new job with the same spec as a failed or cancelled one (linked by `retry_of`)."""
        return await self._model(Job, "POST", f"/api/jobs/{job_id}/retry", idempotent=False)

    async def delete(self, job_id: str) -> None:
        """Cancel the job if live, then remove it from your listings."""
        await self._send("DELETE", f"/api/jobs/{job_id}")

    # -- events ------------------------------------------------------------------------------------

    async def stream(self, job_id: str, last_event_id: int | None = None) -> AsyncIterator[TimelineEvent]:
        """One SSE connection: the job's events after `last_event_id`, live; ends after a terminal
        event. A broken connection raises ConnectionFailed (`events(follow=True)` resumes instead)."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id else {}
        try:
            async with aconnect_sse(
                self._http, "GET", f"/api/jobs/{job_id}/stream", headers=headers, timeout=STREAM_TIMEOUT
            ) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    raise error_from(source.response)
                async for sse in source.aiter_sse():
                    if (event := sse_event(sse)) is not None:
                        yield event
        except httpx.TransportError as exc:
            raise transport_error(self.base_url, exc) from exc

    async def events(
        self,
        job_id: str,
        *,
        follow: bool = False,
        after_seq: int = 0,
    ) -> AsyncIterator[TimelineEvent]:
        """The job's timeline after `after_seq`. With `follow`, live until a terminal event, resuming
        with Last-Event-ID after every dropped connection (never repeating or skipping an event)."""
        if not follow:
            params = {"after_seq": after_seq} if after_seq else {}
            body = (await self._send("GET", f"/api/jobs/{job_id}/events", params=params)).json()
            for e in body["events"]:
                yield TimelineEvent.model_validate(e)
            return
        last, failures = after_seq, 0
        policy = self.retry_policy
        while True:
            try:
                async for event in self.stream(job_id, last_event_id=last or None):
                    if event.seq <= last:
                        continue
                    last, failures = event.seq, 0
                    yield event
                    if event.type in TERMINAL_EVENTS:
                        return
                error: ApiError | None = None  # the server closed the stream early: resume
            except ConnectionFailed as exc:
                error = exc
            except ApiError as exc:
                if not policy.should_retry(exc, idempotent=True):
                    raise
                error = exc
            failures += 1
            if failures >= policy.attempts:
                raise StreamInterrupted(
                    0,
                    f"the event stream of job {job_id} broke {failures} times in a row"
                    + (f": {error.detail}" if error else ""),
                    "stream_interrupted",
                )
            self.retries += 1
            await asyncio.sleep(policy.delay_s(failures, error))

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        progress: bool | None = None,
        on_event: Callable[[TimelineEvent], Any] | None = None,
    ) -> Job:
        """Follow the job's events until it completes, fails or is cancelled; the final job.

        A progress bar shows on a terminal (`progress=True/False` forces it). Dropped connections are
        resumed where they broke. `timeout` (seconds) raises WaitTimeout; the job goes on.
        """
        with WaitProgress(job_id, enabled=want_progress(progress)) as bar:
            try:
                # The whole follow is bounded: heartbeats keep a quiet stream's reads alive.
                async with asyncio.timeout(timeout):
                    events = self.events(job_id, follow=True)
                    try:
                        async for event in events:
                            bar.update(event)
                            if on_event is not None:
                                on_event(event)
                    finally:
                        await events.aclose()  # type: ignore[attr-defined]
            except TimeoutError:
                raise WaitTimeout(
                    0, f"job {job_id} did not finish within {timeout:g} s", "wait_timeout"
                ) from None
        return await self._settled(job_id)

    async def _settled(self, job_id: str) -> Job:
        """The job once its row shows the terminal status (it may trail the event by a moment)."""
        end = time.monotonic() + SETTLE_S
        job = await self.get(job_id)
        while not job.terminal and time.monotonic() < end:
            await asyncio.sleep(0.2)
            job = await self.get(job_id)
        return job

    # -- results -----------------------------------------------------------------------------------

    async def sim_data(self, job_id: str) -> SimData:
        """Each artifact's name, size, SHA-256 and a presigned URL (valid for `expires_in` seconds)."""
        return await self._model(SimData, "GET", f"/api/jobs/{job_id}/sim-data")

    async def download(
        self,
        job_id: str,
        dest: str | Path,
        *,
        names: builtins.list[str] | None = None,
    ) -> builtins.list[Downloaded]:
        """Download the job's files (or those in `names`) into `dest`, each verified by SHA-256 and size.

        A file is written to a temporary name and renamed once verified, so `dest` never holds a
        partial or corrupt file; a file already there and intact is not downloaded again.
        """
        folder = Path(dest)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        listing = await self.sim_data(job_id)
        out: builtins.list[Downloaded] = []
        for f in listing.files:
            if names is not None and f.name not in names:
                continue
            path = target_path(folder, f.name)
            skipped = await asyncio.to_thread(intact, path, f)
            if not skipped:
                await self._download_file(job_id, f, path)
            out.append(Downloaded(f.name, path, f.size, f.sha256, skipped))
        return out

    async def _download_file(self, job_id: str, f: SimFile, path: Path) -> None:
        """One file, retried on a broken connection, a corrupt copy or a presigned URL that failed."""
        async for attempt in self._retrying(self._download_again):
            with attempt:
                try:
                    await self._fetch_verified(f, path)
                except ApiError as exc:
                    if exc.status in _STALE_URL:  # an expired or failed presigned URL: ask for a fresh one
                        fresh = {g.name: g for g in (await self.sim_data(job_id)).files}
                        f = fresh.get(f.name, f)
                    raise

    def _download_again(self, exc: BaseException) -> bool:
        """Worth another attempt: the bytes broke off or were corrupt, or the URL failed (and the
        server did not ask for a longer wait than the policy allows)."""
        if isinstance(exc, ConnectionFailed | IntegrityError):
            return True
        if not isinstance(exc, ApiError) or exc.status not in _STALE_URL:
            return False
        return exc.retry_after is None or exc.retry_after <= self.retry_policy.max_retry_after_s

    async def _fetch_verified(self, f: SimFile, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        digest, size = hashlib.sha256(), 0
        try:
            try:
                async with self._files.stream("GET", f.url) as resp:
                    if resp.status_code >= 400:
                        await resp.aread()
                        raise ApiError(
                            resp.status_code,
                            f"{f.name}: the object store answered HTTP {resp.status_code}",
                            "download_failed",
                        )
                    with tmp.open("wb") as fh:  # noqa: ASYNC230 - local disk writes of 64 KiB chunks
                        async for chunk in resp.aiter_bytes(CHUNK):
                            size += len(chunk)
                            if size > f.size:
                                break
                            digest.update(chunk)
                            fh.write(chunk)
                        fh.flush()
                        os.fsync(fh.fileno())
            except httpx.TransportError as exc:
                raise transport_error(self.base_url, exc) from exc
            if size != f.size or digest.hexdigest() != f.sha256:
                raise IntegrityError(
                    0,
                    f"{f.name}: got {size:,} bytes with SHA-256 {digest.hexdigest()[:16]}…; "
                    f"the server lists {f.size:,} bytes with {f.sha256[:16]}…",
                    "integrity_error",
                )
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    async def report(self, job_id: str) -> str:
        """The analysis report (markdown); NotFound `report_not_ready` until it is written."""
        return (await self._send("GET", f"/api/jobs/{job_id}/report")).text

    async def graph(self, job_id: str) -> JobGraph:
        """The entity and social graph as nodes and edges (capped for a browser; `truncated` says so)."""
        return await self._model(JobGraph, "GET", f"/api/jobs/{job_id}/graph")

    async def export_pdf(self, job_id: str, path: str | Path) -> Path:
        """The report as PDF, written atomically to `path`."""
        target = Path(path)
        data = (await self._send("GET", f"/api/jobs/{job_id}/export/pdf")).content
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        await asyncio.to_thread(tmp.write_bytes, data)
        os.replace(tmp, target)
        return target

    async def share(self, job_id: str) -> Share:
        """A public read-only link to a completed job (`share_token`, `share_url`, `api_url`, `og_url`)."""
        return await self._model(Share, "POST", f"/api/jobs/{job_id}/share", idempotent=False)

    async def unshare(self, job_id: str) -> None:
        """Revoke the job's public link."""
        await self._send("DELETE", f"/api/jobs/{job_id}/share")

    async def config(self) -> PublicConfig:
        """What this server offers: tiers and their caps, policies, limits, demo mode."""
        return await self._model(PublicConfig, "GET", "/api/config")

    # -- seed helpers ------------------------------------------------------------------------------

    async def fetch(self, url: str) -> FetchResult:
        """A public web page's readable text, for a seed (the server fetches it, safely)."""
        return await self._model(FetchResult, "POST", "/api/fetch", json={"url": url})

    async def generate_goal(self, seed_text: str, category: str = "general") -> str:
        """A yes/no prediction question for the seed, from the platform's model."""
        result = await self._model(
            GoalResult, "POST", "/api/ai/generate-goal", json={"seed_text": seed_text, "category": category}
        )
        return result.goal
