"""Server-sent events of a job: replay, then live; resumable with `Last-Event-ID`; closed on a terminal event."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts.events import EVENT_TYPES, TERMINAL_EVENTS
from contracts.spec import TERMINAL_STATUSES
from services.gateway.auth import Ctx
from services.gateway.context import GatewayContext
from services.gateway.errors import event_log_unavailable
from services.gateway.responses import Body, sends
from services.gateway.resume import SEQ_MAX, resume_point
from services.gateway.routes.jobs import load_job
from services.gateway.routes.webapp_api import StreamUser
from services.gateway.shaping import shape_event
from services.gateway.streams import SlotResponse, StreamSlot
from services.kit.bus import Replay

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/jobs", tags=["jobs"])
FINISHED_IDLE_S = 3.0
READ_MODEL_WAIT_S = 5.0  # how long a terminal event waits for the jobs projection to show it
_TERMINAL_STATUS = {s.value for s in TERMINAL_STATUSES}

_SSE_DOC = (
    "Each message: `id:` the stream sequence, `event:` the event type, `data:` the timeline entry "
    "`{seq, type, occurred_at, data}`. Comments (`: ping`) are heartbeats. The stream ends after "
    "JobCompleted, JobFailed or JobCancelled. Reconnect with `Last-Event-ID` to resume. Open streams "
    "are capped per user (429 `too_many_streams`) and per gateway (503 `streams_full`), with `Retry-After`; "
    "503 `event_log_unavailable` when the event log cannot be read."
)


# One message of the stream, as OpenAPI 3.1 describes a `text/event-stream` item (3.2 calls it
# `itemSchema`; schema checkers such as schemathesis read `schema` so on 3.0/3.1): the SSE fields, with
# `data` a JSON text whose parsed value is a TimelineEvent.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data", "id"],
    "properties": {
        "event": {"type": "string", "enum": sorted(EVENT_TYPES), "description": "the event type"},
        "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "the stream sequence (`Last-Event-ID`)",
        },
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/TimelineEvent"},
        },
        "retry": {"type": "integer", "minimum": 0},
    },
}
SSE_STREAM = Body("text/event-stream", SSE_EVENT_SCHEMA, "SSE stream")


async def _read_model_caught_up(ctx: GatewayContext, user_id: str, job_id: str) -> None:
    """Wait (bounded) until the jobs projection shows the job ended.

    The log reaches JetStream before the projection applies it, so without this a client that reads
    the job right after the stream's terminal event could still see it running. Past the bound the
    event is sent anyway: the stream never hangs on a slow projection.
    """
    deadline = asyncio.get_running_loop().time() + READ_MODEL_WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        row = await ctx.jobs.get_owned(job_id, user_id)
        if row is None or row.get("status") in _TERMINAL_STATUS:
            return
        await asyncio.sleep(0.05)


async def _events(
    ctx: GatewayContext, job_id: str, replay: Replay, finished: bool, slot: StreamSlot, user_id: str
) -> AsyncIterator[ServerSentEvent]:
    ctx.metrics.open_streams += 1
    try:
        if finished and replay.pending == 0:  # the client has everything already
            return
        async with aclosing(replay.events(follow=True)) as live:
            it = aiter(live)
            while True:
                try:
                    # A finished job whose log lacks its terminal event must not hold the stream
                    # open forever: once the replay goes quiet, close.
                    nxt = anext(it)
                    seq, ev = await (asyncio.wait_for(nxt, FINISHED_IDLE_S) if finished else nxt)
                except (StopAsyncIteration, TimeoutError):
                    return
                if ev.type in TERMINAL_EVENTS:
                    if not finished:
                        await _read_model_caught_up(ctx, user_id, job_id)
                    yield _sse(seq, ev)
                    return
                yield _sse(seq, ev)
    except Exception:
        log.exception("event stream of job %s broke off", job_id)
    finally:
        ctx.metrics.open_streams -= 1
        slot.release()  # deletes the replay's consumer too


def _sse(seq: int, ev: object) -> ServerSentEvent:
    entry = shape_event(seq, ev)  # type: ignore[arg-type]
    return ServerSentEvent(data=json.dumps(entry, separators=(",", ":")), id=str(seq), event=entry["type"])


@router.get(
    "/{job_id}/stream",
    summary="Live event stream (SSE)",
    description=_SSE_DOC,
    **sends(SSE_STREAM, 400, 401, 404, 422, 429, 503, response_class=EventSourceResponse),
)
async def stream(
    job_id: str,
    ctx: Ctx,
    user: StreamUser,  # the bearer token, or a stream ticket for EventSource (routes/webapp_api.py)
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after_seq: Annotated[
        int | None,
        Query(
            ge=0, le=SEQ_MAX, description="resume after this sequence (for clients that cannot set headers)"
        ),
    ] = None,
) -> EventSourceResponse:
    """Replay the job's events after the resume point, then follow them live until a terminal event."""
    row = await load_job(ctx, user, job_id)
    after = await resume_point(ctx.bus, after_seq, last_event_id)
    finished = row.get("status") in _TERMINAL_STATUS
    slot = ctx.streams.acquire(user.user_id)
    try:
        # The consumer is made before the response starts, so the event log being unavailable is a
        # 503 here rather than an empty 200 stream.
        try:
            replay = await ctx.bus.open_job_replay(job_id, after_seq=after)
        except Exception as exc:  # BusUnavailable, nats errors (e.g. the server's consumer limit)
            raise event_log_unavailable(exc) from exc
        slot.attach(replay.close)
        return SlotResponse(
            _events(ctx, job_id, replay, finished, slot, user.user_id),
            slot,
            ping=ctx.sse_ping_s,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    except BaseException:
        slot.release()
        raise
