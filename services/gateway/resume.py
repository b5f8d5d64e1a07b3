"""Resume points (`after_seq`, `Last-Event-ID`) checked against the event log before any read.

One home for the event timeline (`GET /api/jobs/{id}/events`) and the SSE stream: `resume_point`
parses the request's resume point and bounds it by the log's end.

A resume point past the end of the stream cannot come from this stream: `10**30` used to reach
NATS (a 503 and a traceback) and, on the SSE route, gave an empty 200 that a client took for
"nothing new". Both are client errors now: 422 naming the parameter.
"""

from __future__ import annotations

from typing import Any

from services.gateway.errors import ApiError, event_log_unavailable

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


def parse_resume_point(last_event_id: str | None, after_seq: int | None, last_seq: int = SEQ_MAX) -> int:
    """The stream sequence to resume after: the `Last-Event-ID` header wins over `?after_seq=`.

    Either must lie within the event log (`last_seq` is its end): 422 naming the one that does not.
    """
    if last_event_id is not None and last_event_id.strip():
        try:
            value = int(last_event_id.strip())
        except ValueError:
            raise ApiError(
                400, "invalid_last_event_id", "Last-Event-ID: must be an event id from this stream"
            ) from None
        return check_resume_point("Last-Event-ID", value, last_seq, "invalid_last_event_id")
    return check_resume_point("after_seq", after_seq or 0, last_seq, "after_seq_beyond_stream")


def _requested(last_event_id: str | None, after_seq: int | None) -> int:
    """The resume point asked for, before checking (0 when the header is not a number)."""
    text = (last_event_id or "").strip()
    if text:
        return int(text) if text.lstrip("-").isdigit() else 0
    return after_seq or 0


async def resume_point(bus: Any, after_seq: int | None, last_event_id: str | None = None) -> int:
    """The checked sequence to resume after; the log's end is asked only when there is one to check."""
    last_seq = await stream_end(bus, _requested(last_event_id, after_seq))
    return parse_resume_point(last_event_id, after_seq, last_seq)


async def stream_end(bus: Any, value: int) -> int:
    """The event log's last sequence, asked only when a non-zero resume point needs checking."""
    if value <= 0:
        return SEQ_MAX  # nothing to check (and negative values fail before the bound is used)
    try:
        return int(await bus.last_seq())
    except Exception as exc:
        raise event_log_unavailable(exc) from exc
