"""HTTP client of a pod's worker API (docs/worker-api.md). The token and presigned URLs never reach a log."""

from __future__ import annotations

import httpx
import msgspec

from contracts.worker import ProgressPage, RunStatusBody, RunSubmission
from services.podmanager.providers.base import WorkerEndpoint


class WorkerUnreachable(RuntimeError):
    """The worker did not answer (connection refused/reset, timeout, 5xx, proxy errors)."""


class WorkerRejected(RuntimeError):
    """The worker answered with a client error (4xx); retrying the same request will not help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"worker answered HTTP {status}: {detail}")
        self.status = status


class WorkerClient:
    """Calls to one pod's worker, authenticated with its bearer token."""

    def __init__(self, endpoint: WorkerEndpoint, http: httpx.AsyncClient) -> None:
        self._base = endpoint.base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {endpoint.token}"}
        self._http = http

    async def healthy(self, timeout: float = 5.0) -> bool:
        """True when GET /health answers 200, asked with this pod's token: another pod's worker on the
        same port (one that took it before this pod's worker could bind it) answers 401."""
        try:
            resp = await self._http.get(f"{self._base}/health", headers=self._headers, timeout=timeout)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    async def _call(self, method: str, path: str, *, timeout: float, **kwargs: object) -> httpx.Response:
        headers = {**self._headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        try:
            resp = await self._http.request(
                method,
                f"{self._base}{path}",
                headers=headers,
                timeout=timeout,
                **kwargs,  # type: ignore[arg-type]
            )
        except httpx.HTTPError as exc:
            # str(exc) of httpx may hold the URL, never the headers: safe, but keep it short.
            raise WorkerUnreachable(f"{type(exc).__name__} talking to the worker") from exc
        if resp.status_code >= 500:
            raise WorkerUnreachable(f"worker answered HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise WorkerRejected(resp.status_code, _detail(resp))
        return resp

    async def submit(self, submission: RunSubmission, timeout: float = 30.0) -> RunStatusBody:
        """POST /runs (idempotent on run id)."""
        resp = await self._call(
            "POST",
            "/runs",
            timeout=timeout,
            content=msgspec.json.encode(submission),
            headers={"Content-Type": "application/json"},
        )
        return msgspec.json.decode(resp.content, type=RunStatusBody)

    async def events(self, run_id: str, after: int, wait: float) -> ProgressPage:
        """GET /runs/{id}/events?after=N&wait=S: progress since N, long-polling up to S seconds."""
        resp = await self._call(
            "GET", f"/runs/{run_id}/events", timeout=wait + 15.0, params={"after": after, "wait": wait}
        )
        return msgspec.json.decode(resp.content, type=ProgressPage)

    async def status(self, run_id: str) -> RunStatusBody:
        """GET /runs/{id}."""
        resp = await self._call("GET", f"/runs/{run_id}", timeout=15.0)
        return msgspec.json.decode(resp.content, type=RunStatusBody)

    async def cancel(self, run_id: str) -> None:
        """POST /runs/{id}/cancel."""
        await self._call("POST", f"/runs/{run_id}/cancel", timeout=15.0)


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)[:300]
    return str(body)[:300]
