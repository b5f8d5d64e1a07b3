"""The Python SDK: a thin, typed client of the gateway's REST API (and its SSE stream)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

from services.kit.settings import default_home


class ApiError(RuntimeError):
    """The API answered with an error; `code` is the machine code, the message is the API's detail."""

    def __init__(self, status: int, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code


class NotConfigured(RuntimeError):
    """No API URL/key could be found (no running `simswarm up`, no SIMSWARM_API_URL)."""


@dataclass(frozen=True)
class StreamEvent:
    seq: int
    type: str
    data: dict[str, Any]


def resolve_endpoint(home: Path | None = None) -> tuple[str, str]:
    """(api_url, api_key) from SIMSWARM_API_URL/SIMSWARM_API_KEY, else from `$SIMSWARM_HOME`."""
    url = os.environ.get("SIMSWARM_API_URL")
    key = os.environ.get("SIMSWARM_API_KEY")
    home = home or default_home()
    if not url:
        stack = home / "stack.json"
        if stack.exists():
            values = json.loads(stack.read_text())
            url = f"http://{values.get('gateway_host', '127.0.0.1')}:{values.get('gateway_port', 8080)}"
    if not key and (home / "api-key").exists():
        key = (home / "api-key").read_text().strip()
    if not url or not key:
        raise NotConfigured(
            f"no SimSwarm API found: start one with `simswarm up` (home {home}), "
            "or set SIMSWARM_API_URL and SIMSWARM_API_KEY"
        )
    return url.rstrip("/"), key


class Client:
    """Synchronous client; every method maps to one REST call of docs/api.md."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
        )

    @classmethod
    def from_env(cls, home: Path | None = None) -> Client:
        url, key = resolve_endpoint(home)
        return cls(url, key)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the SimSwarm API at {self.base_url}: {exc}", "unreachable") from exc
        if resp.status_code >= 400:
            try:
                body = resp.json()
                detail, code = str(body.get("detail", resp.text)), body.get("code")
            except ValueError:
                detail, code = resp.text or resp.reason_phrase, None
            raise ApiError(resp.status_code, detail, code)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    def create_job(self, seed_text: str, goal: str, **spec: Any) -> dict[str, Any]:
        body = {"seed_text": seed_text, "goal": goal, **{k: v for k, v in spec.items() if v is not None}}
        return dict(self._call("POST", "/api/jobs", json=body))

    def get_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/jobs/{job_id}"))

    def list_jobs(self, status: str | None = None, page: int = 1, per_page: int = 20) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if status:
            params["status"] = status
        return dict(self._call("GET", "/api/jobs", params=params))

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/jobs/{job_id}/cancel"))

    def events(self, job_id: str) -> list[dict[str, Any]]:
        body = self._call("GET", f"/api/jobs/{job_id}/events")
        return list(body["events"] if isinstance(body, dict) else body)

    def sim_data(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/jobs/{job_id}/sim-data"))

    def report(self, job_id: str) -> str:
        return str(self._call("GET", f"/api/jobs/{job_id}/report"))

    def stream(self, job_id: str, last_event_id: int | None = None) -> Iterator[StreamEvent]:
        """The job's events live over SSE; ends after a terminal event."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id else {}
        try:
            with connect_sse(
                self._http, "GET", f"/api/jobs/{job_id}/stream", headers=headers, timeout=httpx.Timeout(30.0, read=60.0)
            ) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    try:
                        body = source.response.json()
                    except ValueError:
                        body = {"detail": source.response.text}
                    raise ApiError(source.response.status_code, str(body.get("detail")), body.get("code"))
                for sse in source.iter_sse():
                    if not sse.data:
                        continue
                    yield StreamEvent(seq=int(sse.id or 0), type=sse.event, data=json.loads(sse.data))
        except httpx.HTTPError as exc:
            raise ApiError(0, f"event stream interrupted: {exc}", "stream_interrupted") from exc
