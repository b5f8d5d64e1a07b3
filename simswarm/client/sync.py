"""`Client`: the blocking SDK. It runs an `AsyncClient` (simswarm/client/aio.py) on an event loop of
its own, in one background thread (anyio's blocking portal), so both clients share one
implementation and behave alike. It works where an event loop already runs (a notebook, an async
application calling blocking code) and may be used from several threads at once."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from services.gateway.api_models import (
    FetchResult,
    Job,
    JobGraph,
    JobList,
    PublicConfig,
    Share,
    SimData,
    TimelineEvent,
)
from simswarm.client._common import DEFAULT_TIMEOUT, Downloaded, RetryPolicy, resolve_endpoint
from simswarm.client.aio import AsyncClient

T = TypeVar("T")


class Client:
    """Blocking client of the SimSwarm API; the same methods as `AsyncClient`, without `await`.

        with Client.from_env() as client:
            job = client.create(seed_text, "Will X happen within 60 days?", policy="heuristic")
            done = client.wait(job.job_id)
            client.download(job.job_id, "./run")

    It runs an `AsyncClient` on a loop of its own, so retries (`retry=RetryPolicy(...)`) and the
    idempotent `create` are the same as there.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._portal_cm = start_blocking_portal(name="simswarm-client")
        self._portal: BlockingPortal = self._portal_cm.__enter__()
        self._closed = False
        # Built on the portal's loop: its connection pool belongs to that loop.
        self._async: AsyncClient = self._portal.call(
            lambda: AsyncClient(base_url, api_key, timeout=timeout, retry=retry)
        )

    @classmethod
    def from_env(cls, home: Path | None = None, **kwargs: Any) -> Client:
        """The API of SIMSWARM_API_URL/SIMSWARM_API_KEY, else of the local `simswarm up` ($SIMSWARM_HOME)."""
        url, key = resolve_endpoint(home)
        return cls(url, key, **kwargs)

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._async.retry_policy

    @property
    def retries(self) -> int:
        """Retries made so far (every kind), for logs and tests."""
        return self._async.retries

    def close(self) -> None:
        """Close the connections and stop the background loop (cancelling anything left running)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self._async.aclose)
        finally:
            with contextlib.suppress(Exception):
                self._portal.call(self._portal.stop, True)
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._portal.call(lambda: fn(*args, **kwargs))

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """An async iterator of the client, stepped from this thread; closed when left early."""
        try:
            while True:
                try:
                    yield self._portal.call(agen.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and not self._closed:
                with contextlib.suppress(Exception):
                    self._portal.call(aclose)

    # -- jobs (see AsyncClient for what each does) ---------------------------------------------------

    def create(self, seed_text: str, goal: str, *, idempotency_key: str | None = None, **spec: Any) -> Job:
        """Submit a job; a fresh Idempotency-Key (unless given) goes with every attempt."""
        result: Job = self._call(self._async.create, seed_text, goal, idempotency_key=idempotency_key, **spec)
        return result

    def get(self, job_id: str) -> Job:
        """The job: status, stage, progress, timings, pod, markets, prices, verdict, result, artifacts."""
        result: Job = self._call(self._async.get, job_id)
        return result

    def page(self, *, status: str | None = None, page: int = 1, per_page: int = 20) -> JobList:
        """One page of your jobs, newest first."""
        result: JobList = self._call(self._async.page, status=status, page=page, per_page=per_page)
        return result

    def list(
        self, *, status: str | None = None, per_page: int = 100, limit: int | None = None
    ) -> Iterator[Job]:
        """Every job of yours (or those in `status`), newest first, fetching pages as needed."""
        return self._iterate(self._async.list(status=status, per_page=per_page, limit=limit))

    def cancel(self, job_id: str) -> Job:
        """Ask for cancellation (the pod is torn down); the job ends in `cancelled`."""
        result: Job = self._call(self._async.cancel, job_id)
        return result

    def retry(self, job_id: str) -> Job:
        """A new job with the same spec as a failed or cancelled one (linked by `retry_of`)."""
        result: Job = self._call(self._async.retry, job_id)
        return result

    def delete(self, job_id: str) -> None:
        """Cancel the job if live, then remove it from your listings."""
        self._call(self._async.delete, job_id)

    # -- events ------------------------------------------------------------------------------------

    def stream(self, job_id: str, last_event_id: int | None = None) -> Iterator[TimelineEvent]:
        """One SSE connection (no resume): the job's events after `last_event_id`, live."""
        return self._iterate(self._async.stream(job_id, last_event_id))

    def events(self, job_id: str, *, follow: bool = False, after_seq: int = 0) -> Iterator[TimelineEvent]:
        """The job's timeline; with `follow`, live until a terminal event, resuming after drops."""
        return self._iterate(self._async.events(job_id, follow=follow, after_seq=after_seq))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        progress: bool | None = None,
        on_event: Callable[[TimelineEvent], Any] | None = None,
    ) -> Job:
        """Follow the job until it completes, fails or is cancelled; the final job (a bar on a terminal)."""
        result: Job = self._call(
            self._async.wait, job_id, timeout=timeout, progress=progress, on_event=on_event
        )
        return result

    # -- results -----------------------------------------------------------------------------------

    def sim_data(self, job_id: str) -> SimData:
        """Each artifact's name, size, SHA-256 and a presigned URL."""
        result: SimData = self._call(self._async.sim_data, job_id)
        return result

    def download(
        self,
        job_id: str,
        dest: str | Path,
        *,
        names: builtins.list[str] | None = None,
    ) -> builtins.list[Downloaded]:
        """Download the job's files into `dest`, verified by SHA-256, atomically, skipping intact ones."""
        result: builtins.list[Downloaded] = self._call(self._async.download, job_id, dest, names=names)
        return result

    def report(self, job_id: str) -> str:
        """The analysis report (markdown)."""
        return str(self._call(self._async.report, job_id))

    def graph(self, job_id: str) -> JobGraph:
        """The entity and social graph as nodes and edges."""
        result: JobGraph = self._call(self._async.graph, job_id)
        return result

    def export_pdf(self, job_id: str, path: str | Path) -> Path:
        """The report as PDF, written atomically to `path`."""
        return Path(self._call(self._async.export_pdf, job_id, path))

    def share(self, job_id: str) -> Share:
        """A public read-only link to a completed job."""
        result: Share = self._call(self._async.share, job_id)
        return result

    def unshare(self, job_id: str) -> None:
        """Revoke the job's public links."""
        self._call(self._async.unshare, job_id)

    def config(self) -> PublicConfig:
        """What this server offers: tiers and their caps, policies, limits, demo mode."""
        result: PublicConfig = self._call(self._async.config)
        return result

    def fetch(self, url: str) -> FetchResult:
        """A public web page's readable text, for a seed."""
        result: FetchResult = self._call(self._async.fetch, url)
        return result

    def generate_goal(self, seed_text: str, category: str = "general") -> str:
        """A yes/no prediction question for the seed, from the platform's model."""
        return str(self._call(self._async.generate_goal, seed_text, category))

    # -- the names of the first SDK (kept so existing scripts run) ---------------------------------

    create_job = create
    get_job = get
    cancel_job = cancel

    def list_jobs(self, status: str | None = None, page: int = 1, per_page: int = 20) -> JobList:
        return self.page(status=status, page=page, per_page=per_page)
