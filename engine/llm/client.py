"""An OpenAI-compatible chat-completions client: bounded concurrency, timeouts, retries, counters.

One client serves a whole run. It is safe to use from successive event loops (the engine may run
extraction and rounds under different `asyncio.run` calls): the HTTP pool and the semaphore are
rebuilt when the running loop changes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from typing import Any

import httpx
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from engine.llm.config import LLMConfig

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_LATENCY_SAMPLES = 20_000
POOL_CONNECTIONS = 16
_JSON = {"content-type": "application/json"}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every pool: building one loads the CA bundle (~90 ms each)."""
    return ssl.create_default_context()


class LLMCallFailed(RuntimeError):
    """A chat completion that failed for good (after retries, or a non-transient error)."""


class _Transient(Exception):
    """An attempt that may succeed if made again; the message says what happened."""

    def __init__(self, reason: str, retry_after: str | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after  # the server's Retry-After header, when it sent one


class Counters:
    """Calls, errors, retries, tokens, latency and concurrency of one client (event-loop only)."""

    def __init__(self) -> None:
        self.calls = 0  # logical completions asked for
        self.requests = 0  # HTTP attempts
        self.errors = 0  # completions that failed for good
        self.retries = 0
        self.timeouts = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cached_prompt_tokens = 0
        self.latencies: list[float] = []  # seconds, successful attempts (a bounded reservoir)
        self.server_seconds = 0.0  # as reported by a server that sends x-fake-server-ms (tests, bench)
        self.in_flight = 0
        self._busy_since = 0.0
        self._last_change = 0.0
        self.busy_seconds = 0.0  # time with at least one request in flight
        self.in_flight_area = 0.0  # integral of in_flight over time

    def _account(self) -> None:
        now = time.perf_counter()
        if self.in_flight:
            span = now - self._last_change
            self.busy_seconds += span
            self.in_flight_area += span * self.in_flight
        self._last_change = now

    def enter(self) -> None:
        self._account()
        self.in_flight += 1

    def leave(self) -> None:
        self._account()
        self.in_flight -= 1

    def latency(self, seconds: float) -> None:
        if len(self.latencies) < _LATENCY_SAMPLES:
            self.latencies.append(seconds)
        else:
            self.latencies[random.randrange(_LATENCY_SAMPLES)] = seconds

    def snapshot(self, prefix: str = "llm_") -> dict[str, float]:
        """The counters as a flat dict of floats (for RoundReport/RunStatusBody counters)."""
        lat = sorted(self.latencies)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0

        values = {
            "calls": self.calls,
            "requests": self.requests,
            "errors": self.errors,
            "retries": self.retries,
            "timeouts": self.timeouts,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "latency_p50_ms": pct(0.5),
            "latency_p95_ms": pct(0.95),
            "latency_mean_ms": (sum(lat) / len(lat) * 1000) if lat else 0.0,
            "in_flight_mean": self.in_flight_area / self.busy_seconds if self.busy_seconds else 0.0,
        }
        return {prefix + k: float(v) for k, v in values.items()}


class ChatClient:
    """POST /chat/completions with retries; returns the first choice's message and the usage."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.counters = Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: list[httpx.AsyncClient] = []
        self._load: list[int] = []
        self._sem: asyncio.Semaphore | None = None
        self._model_lock: asyncio.Lock | None = None

    def _bind(self) -> tuple[list[httpx.AsyncClient], asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or not self._pools or self._sem is None:
            c = self.config
            headers = {"authorization": f"Bearer {c.api_key}"} if c.api_key else {}
            # httpcore's pool does O(requests x connections) work per request; many small pools
            # keep that cheap at hundreds of requests in flight (one big pool costs ~16 ms a call).
            shards = max(1, -(-c.concurrency // POOL_CONNECTIONS))
            per_pool = -(-c.concurrency // shards)
            self._pools = [
                httpx.AsyncClient(
                    base_url=c.url,
                    headers=headers,
                    verify=_ssl_context(),
                    timeout=httpx.Timeout(c.timeout_s, connect=c.connect_timeout_s),
                    limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
                )
                for _ in range(shards)
            ]
            self._load = [0] * shards
            self._sem = asyncio.Semaphore(c.concurrency)
            self._model_lock = asyncio.Lock()
            self._loop = loop
        return self._pools, self._sem

    async def aclose(self) -> None:
        """Close the pool if it belongs to the running loop (a dead loop's pool is just dropped)."""
        pools, self._pools = self._pools, []
        try:
            if pools and self._loop is asyncio.get_running_loop():
                for pool in pools:
                    await pool.aclose()
        except RuntimeError:
            pass

    def _wait_s(self, state: RetryCallState) -> float:
        """Before another attempt: the server's Retry-After (capped), else backoff doubling, with jitter."""
        failed = state.outcome.exception() if state.outcome else None
        retry_after = failed.retry_after if isinstance(failed, _Transient) else None
        if retry_after:
            try:
                return min(float(retry_after), self.config.backoff_max_s)
            except ValueError:
                pass
        cap = min(self.config.backoff_max_s, self.config.backoff_s * 2 ** (state.attempt_number - 1))
        return random.uniform(cap / 2, cap)

    def _count_retry(self, _state: RetryCallState) -> None:
        self.counters.retries += 1

    async def complete(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One completion (model filled in). Raises LLMCallFailed with a short reason."""
        pools, sem = self._bind()
        if not self.config.model:
            assert self._model_lock is not None
            async with self._model_lock:
                if not self.config.model:
                    await self._resolve_model(pools[0])
        payload = msgspec.json.encode({"model": self.config.model, **body})
        self.counters.calls += 1
        async with sem:
            shard = min(range(len(pools)), key=self._load.__getitem__)
            http = pools[shard]
            self._load[shard] += 1
            try:
                return await self._attempts(http, payload)
            finally:
                self._load[shard] -= 1

    async def _attempts(
        self, http: httpx.AsyncClient, payload: bytes
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Up to 1 + `max_retries` attempts; a transient failure (timeout, connection, 408/409/425/429,
        5xx) is tried again, anything else fails at once.

        The first attempt runs bare: tenacity costs ~50 us of CPU a call at hundreds in flight (13% of
        the client's time in bench.engine_llm), so it only takes over once an attempt has failed.
        """
        try:
            return await self._attempt(http, payload)
        except _Transient as exc:
            failures = [exc]

        async def again() -> tuple[dict[str, Any], dict[str, Any]]:
            if failures:  # tenacity's first attempt is the one that just failed: it waits, then retries
                raise failures.pop()
            return await self._attempt(http, payload)

        attempts = self.config.max_retries + 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait_s,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            return await retrying(again)
        except _Transient as exc:
            self.counters.errors += 1
            raise LLMCallFailed(f"{exc} (after {attempts} attempts)") from None

    async def _attempt(
        self, http: httpx.AsyncClient, payload: bytes
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One HTTP request: the message and usage, _Transient, or LLMCallFailed for good."""
        self.counters.requests += 1
        self.counters.enter()
        started = time.perf_counter()
        try:
            response = await http.post("/chat/completions", content=payload, headers=_JSON)
        except httpx.TimeoutException:
            self.counters.timeouts += 1
            raise _Transient(f"timed out after {self.config.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        finally:
            self.counters.leave()
        if response.status_code in _TRANSIENT_STATUS:
            raise _Transient(f"HTTP {response.status_code}", response.headers.get("retry-after"))
        if not response.is_success:
            self.counters.errors += 1
            raise LLMCallFailed(f"HTTP {response.status_code}: {_error_text(response)}")
        self.counters.latency(time.perf_counter() - started)
        return self._accept(response)

    async def _resolve_model(self, http: httpx.AsyncClient) -> None:
        """No model configured: use the first one the server lists (vLLM serves exactly one)."""
        try:
            response = await http.get("/models")
            self.config.model = str(response.json()["data"][0]["id"])
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
            raise LLMCallFailed("no model configured and the server lists none at /models") from None
        log.info("using model %s (the first one the server lists)", self.config.model)

    def _accept(self, response: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
        server_ms = response.headers.get("x-fake-server-ms")
        if server_ms:
            self.counters.server_seconds += float(server_ms) / 1000
        try:
            data = msgspec.json.decode(response.content)
            message = data["choices"][0]["message"]
            assert isinstance(message, dict)
        except (msgspec.DecodeError, KeyError, IndexError, TypeError, AssertionError):
            self.counters.errors += 1
            raise LLMCallFailed("the response is not a chat completion (no choices[0].message)") from None
        usage = data.get("usage") or {}
        self.counters.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.counters.completion_tokens += int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details") or {}
        self.counters.cached_prompt_tokens += int(details.get("cached_tokens") or 0)
        return message, usage


def _error_text(response: httpx.Response) -> str:
    try:
        err = response.json().get("error")
        text = err.get("message") if isinstance(err, dict) else str(err or response.text)
    except (ValueError, AttributeError):
        text = response.text
    return (text or "").strip()[:300]
