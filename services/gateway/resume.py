"""Resume points (`after_seq`, `Last-Event-ID`) checked against the event log before any read.

A resume point past the end of the stream cannot come from this stream: `10**30` used to reach
NATS (a 503 and a traceback) and, on the SSE route, gave an empty 200 that a client took for
"nothing new". Both are client errors now: 422 naming the parameter.
"""

from __future__ import annotations

from typing import Any

from services.gateway.errors import ApiError

SEQ_MAX = 2**63 - 1
"""The largest resume point a query parameter accepts (JetStream sequences are 64-bit)."""


def check_resume_point(name: str, value: int, last_seq: int, code: str) -> int:
    """`value` if it is a sequence this stream has reached; else ApiError 422 naming `name`."""
    if value < 0:
        raise ApiError(422, code, f"{name}: must not be negative")
    if value > last_seq:
        raise ApiError(
            422,
            code,
            f"{name}: {value} is past the end of the event log (its last sequence is {last_seq}); "
            "resume from a sequence this stream sent",
        )
    return value


async def stream_end(bus: Any, value: int) -> int:
    """The event log's last sequence, asked only when a non-zero resume point needs checking."""
    if value <= 0:
        return SEQ_MAX  # nothing to check (and negative values fail before the bound is used)
    try:
        return int(await bus.last_seq())
    except Exception as exc:
        raise ApiError(
            503,
            "event_log_unavailable",
            "the event log (NATS) is unavailable; retry shortly",
            {"Retry-After": "5"},
        ) from exc
