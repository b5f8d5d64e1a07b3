"""What `Client` and `AsyncClient` share: finding the API, errors from responses, the retry
policy, SSE decoding and the bookkeeping of verified downloads (no I/O to the API here)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from tenacity import RetryCallState

from services.gateway.api_models import SimFile, TimelineEvent
from simswarm.client.errors import ApiError, ConnectionFailed, error_for
from simswarm.client.settings import ClientSettings

TERMINAL_EVENTS = frozenset({"JobCompleted", "JobFailed", "JobCancelled"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
STREAM_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=90.0)  # the server pings every 15 s
CHUNK = 1 << 16
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def resolve_endpoint(home: Path | None = None) -> tuple[str, str]:
    """(api_url, api_key) from SIMSWARM_API_URL/SIMSWARM_API_KEY, else from `$SIMSWARM_HOME`."""
    return (ClientSettings(home=home) if home else ClientSettings()).endpoint()


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def error_from(resp: httpx.Response) -> ApiError:
    """The typed error for an error response (its body must have been read)."""
    try:
        body = resp.json()
        detail, code = str(body.get("detail", resp.text)), body.get("code")
    except (ValueError, AttributeError):
        detail, code = (resp.text or resp.reason_phrase), None
    return error_for(resp.status_code, detail, code, retry_after_s(resp.headers.get("retry-after")))


def transport_error(base_url: str, exc: httpx.TransportError) -> ConnectionFailed:
    err = ConnectionFailed(
        0, f"cannot reach the SimSwarm API at {base_url}: {exc or type(exc).__name__}", "unreachable"
    )
    err.never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return err


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: exponential backoff with jitter, or the server's Retry-After.

    A request is retried when the server says to come back (429, 502, 503, 504) or the connection
    failed. Requests that are not idempotent (a retry of a job, a cancel) are retried only when
    nothing can have happened: a connection that never opened, or a 429/503 answer.
    """

    attempts: int = 5
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0  # a longer Retry-After is not waited for: the error is raised

    def should_retry(self, exc: BaseException, idempotent: bool) -> bool:
        if isinstance(exc, ConnectionFailed):
            return idempotent or bool(getattr(exc, "never_sent", False))
        if isinstance(exc, ApiError) and exc.status in RETRY_STATUSES:
            if exc.retry_after is not None and exc.retry_after > self.max_retry_after_s:
                return False
            return idempotent or exc.status in (429, 503)
        return False

    def delay_s(self, failures: int, error: BaseException | None) -> float:
        """How long to wait after the `failures`-th failure in a row: the server's Retry-After, else
        exponential backoff with jitter (the one formula, for requests, downloads and streams)."""
        if isinstance(error, ApiError) and error.retry_after is not None:
            return error.retry_after
        cap = min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))
        return random.uniform(cap / 2, cap)

    def wait_s(self, state: RetryCallState) -> float:
        """`delay_s` as a tenacity wait."""
        return self.delay_s(state.attempt_number, state.outcome.exception() if state.outcome else None)


def sse_event(sse: Any) -> TimelineEvent | None:
    """A timeline entry from one SSE message (`data` is `{seq, type, occurred_at, data}`)."""
    if not sse.data:
        return None
    body = json.loads(sse.data)
    if "seq" not in body and sse.id:
        body["seq"] = int(sse.id)
    body.setdefault("type", sse.event)
    return TimelineEvent.model_validate(body)


def spec_body(seed_text: str, goal: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A job spec's JSON: the given fields, leaving out the ones set to None (the server's defaults)."""
    return {"seed_text": seed_text, "goal": goal, **{k: v for k, v in spec.items() if v is not None}}


@dataclass(frozen=True)
class Downloaded:
    """One file of `download()`: where it is, and whether it was already there and intact."""

    name: str
    path: Path
    size: int
    sha256: str
    skipped: bool


def target_path(dest: Path, name: str) -> Path:
    """Where file `name` goes in `dest`; refuses names that could leave it (`../x`, `/etc/x`)."""
    if not _SAFE_NAME.match(name) or name in (".", ".."):
        raise ApiError(
            0, f"the server listed an unsafe file name {name!r}; refusing to write it", "unsafe_name"
        )
    return dest / name


def intact(path: Path, f: SimFile) -> bool:
    """True when `path` exists with exactly the listed size and SHA-256."""
    try:
        if path.stat().st_size != f.size:
            return False
    except OSError:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest() == f.sha256
