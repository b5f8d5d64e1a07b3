"""`Client`: the blocking SDK. It runs an `AsyncClient` (simswarm/client/aio.py) on an event loop of
its own, in one background thread (anyio's blocking portal), so both clients share one
implementation and behave alike. It works where an event loop already runs (a notebook, an async
application calling blocking code) and may be used from several threads at once.

Each API method of `Client` is made from the `AsyncClient` method of the same name by `blocking`
(a coroutine: its result) or `blocking_iter` (an async iterator: a plain iterator): the signature
(parameters, return type) and the docstring are the async method's, for type checkers, IDEs and
`help()` alike, and there is no second copy of either to keep in step."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from services.gateway.api_models import JobList
from simswarm.client._common import DEFAULT_TIMEOUT, RetryPolicy, resolve_endpoint
from simswarm.client.aio import AsyncClient

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def blocking(
    method: Callable[Concatenate[AsyncClient, P], Awaitable[R]],
) -> Callable[Concatenate[Client, P], R]:
    """The blocking twin of an `AsyncClient` coroutine method: run it on the client's loop, return its result."""

    @functools.wraps(method)
    def call(self: Client, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._portal.call(lambda: method(self._async, *args, **kwargs))

    return call


def blocking_iter(
    method: Callable[Concatenate[AsyncClient, P], AsyncIterator[T]],
) -> Callable[Concatenate[Client, P], Iterator[T]]:
    """The blocking twin of an `AsyncClient` async-iterator method: a plain iterator over the same items."""

    @functools.wraps(method)
    def call(self: Client, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._iterate(method(self._async, *args, **kwargs))

    # help() reads the signature of the async method (functools.wraps); it returns a plain iterator here.
    signature = inspect.signature(method)
    returns = str(signature.return_annotation).replace("AsyncIterator", "Iterator", 1)
    call.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
    return call


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

    # -- the API: AsyncClient's methods, blocking ---------------------------------------------------

    create = blocking(AsyncClient.create)
    get = blocking(AsyncClient.get)
    page = blocking(AsyncClient.page)
    list = blocking_iter(AsyncClient.list)
    cancel = blocking(AsyncClient.cancel)
    retry = blocking(AsyncClient.retry)
    delete = blocking(AsyncClient.delete)
    stream = blocking_iter(AsyncClient.stream)
    events = blocking_iter(AsyncClient.events)
    wait = blocking(AsyncClient.wait)
    sim_data = blocking(AsyncClient.sim_data)
    download = blocking(AsyncClient.download)
    report = blocking(AsyncClient.report)
    graph = blocking(AsyncClient.graph)
    export_pdf = blocking(AsyncClient.export_pdf)
    share = blocking(AsyncClient.share)
    unshare = blocking(AsyncClient.unshare)
    config = blocking(AsyncClient.config)
    fetch = blocking(AsyncClient.fetch)
    generate_goal = blocking(AsyncClient.generate_goal)

    # -- the names of the first SDK (kept so existing scripts run) ---------------------------------

    create_job = create
    get_job = get
    cancel_job = cancel

    def list_jobs(self, status: str | None = None, page: int = 1, per_page: int = 20) -> JobList:
        return self.page(status=status, page=page, per_page=per_page)
