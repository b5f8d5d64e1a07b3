"""Caps on open SSE streams, per user and per gateway process.

Each open stream holds a JetStream consumer and a connection; without caps one client could open
thousands and reach the server's consumer limit for everyone. The caps are read from the settings at
each request (`max_streams_per_user`, `max_open_streams`), so an operator's change applies at once.
They count this process's streams: with several gateway replicas a user may hold the per-user cap
on each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from services.gateway.errors import ApiError
from services.kit.settings import Settings

RETRY_AFTER_S = 5


class StreamSlot:
    """One open stream's place; `release()` may be called any number of times."""

    def __init__(self, limiter: StreamLimiter, user_id: str) -> None:
        self._limiter = limiter
        self.user_id = user_id
        self._held = True
        self._closers: list[Callable[[], None]] = []

    def attach(self, close: Callable[[], None]) -> None:
        """Run `close` (e.g. delete the stream's consumer) when the slot is released."""
        self._closers.append(close)

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limiter._release(self.user_id)
            for close in self._closers:
                close()


class StreamLimiter:
    """Counts open streams; `acquire` refuses past a cap with the error the client gets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.total = 0
        self.by_user: Counter[str] = Counter()

    def acquire(self, user_id: str) -> StreamSlot:
        per_user, total = self.settings.max_streams_per_user, self.settings.max_open_streams
        if self.by_user[user_id] >= per_user:
            raise ApiError(
                429,
                "too_many_streams",
                f"you already have {per_user} streams open, the limit per user; close one first",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        if self.total >= total:
            raise ApiError(
                503,
                "streams_full",
                f"the gateway has {total} streams open, its limit; retry shortly",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        self.total += 1
        self.by_user[user_id] += 1
        return StreamSlot(self, user_id)

    def _release(self, user_id: str) -> None:
        self.total -= 1
        self.by_user[user_id] -= 1
        if self.by_user[user_id] <= 0:
            del self.by_user[user_id]


class SlotResponse(EventSourceResponse):
    """An SSE response that frees its stream slot however it ends: finished, dropped by the client,
    failed, or never streamed at all (a HEAD request)."""

    def __init__(self, content: Any, slot: StreamSlot, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
