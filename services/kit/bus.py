"""The one module that owns every NATS call: streams, consumers, publish with dedup, replay, commands.

It is also the telemetry middleware of every hop: a publish runs in a PRODUCER span whose context goes
into the message headers (and the envelope's optional `traceparent`); each handled message runs in a
CONSUMER span parented by those headers, with the job id set for the logs and its handling time and
the consumer's backlog recorded as metrics; commands get CLIENT/SERVER spans the same way. No caller
passes trace context by hand.

Facts it relies on (docs/development.md#nats-jetstream-nats-py): `js.publish` has no msg-id argument,
so `Nats-Msg-Id` is set as a header; an empty `fetch()` raises TimeoutError; `pull_subscribe` ignores
a changed config for an existing durable, so consumers are created or updated with `add_consumer` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from contracts.events import AnyEvent, Event, MalformedEvent, decode_event, encode_event
from contracts.subjects import (
    DEADLETTER_STREAM,
    JOB_STREAM,
    JOB_SUBJECT_PREFIX,
    STREAMS,
    deadletter_subject,
    event_filter,
    inbox_prefix,
    job_filter,
    job_subject,
)
from services.kit import metrics
from services.kit.logs import job_context
from services.kit.settings import NatsLogin
from services.kit.telemetry import client_span, consumer_span, current_traceparent, producer_span, server_span

log = logging.getLogger(__name__)

T = TypeVar("T")
# A replay consumer (timeline read, SSE stream) whose reader vanished without deleting it is removed
# by the server after this long idle. Readers pull at least every 2 s, so a live one never idles.
REPLAY_INACTIVE_S = 10.0
LAG_INTERVAL_S = 5.0  # how often a consumer reads its backlog (num_pending) for the metrics
# A message held by a consumer that died is redelivered after this ack wait, so it is short; a handler
# still working is kept alive by progress acknowledgements (in_progress) every third of it.
ACK_WAIT_S = 8.0
EventHandler = Callable[[AnyEvent, "Delivery"], Awaitable[None]]


def _consumer_safe(name: str) -> str:
    """`name` with what a consumer name may not contain (dots, wildcards, spaces) replaced."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40]


# A publish that may succeed if tried again: no answer from the stream in time.
_PUBLISH_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.js.errors.NoStreamResponseError,
    nats.errors.NoRespondersError,
)


class BusUnavailable(RuntimeError):
    """NATS could not be reached or did not answer in time."""


class PermissionDenied(RuntimeError):
    """NATS refused this connection's user a subject (a permissions violation): not retried."""


_VIOLATION = re.compile(r'Permissions Violation for (Publish|Subscription) to "?([^"\s]+)"?', re.IGNORECASE)


class _Denials:
    """Turns the server's asynchronous permissions-violation errors into an error of the call that caused it.

    NATS answers a forbidden publish with an `-ERR` on the connection, not on the publish, so a
    JetStream publish or request would otherwise just time out and be retried as if NATS were down.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[str]]] = {}

    async def on_error(self, exc: Exception) -> None:
        match = _VIOLATION.search(str(exc))
        if match is None:
            log.warning("NATS error: %s", exc or type(exc).__name__)
            return
        kind, subject = match.groups()
        log.error("NATS refused %s to %s: permissions violation", kind.lower(), subject)
        for fut in self._waiters.get(subject.lower(), ()):  # the client lower-cases the server's message
            if not fut.done():
                fut.set_result(f"{kind.lower()} to {subject}")

    async def guard(self, subject: str, call: Awaitable[T]) -> T:
        """Await `call`; raise PermissionDenied at once if the server refuses `subject` meanwhile."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        key = subject.lower()
        self._waiters.setdefault(key, set()).add(fut)
        task = asyncio.ensure_future(call)
        try:
            either: set[asyncio.Future[Any]] = {task, fut}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if fut.done() and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise PermissionDenied(
                    f"NATS refused {fut.result()}: permissions violation "
                    "(this service's NATS user may not use that subject)"
                )
            return task.result()
        finally:
            if not task.done():
                task.cancel()
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    del self._waiters[key]


def _safe_url(url: str) -> str:
    """The URL without any password in it, for messages."""
    return re.sub(r"//[^@/]*@", "//***@", url)


class ConsumerGone(RuntimeError):
    """A consumer's durable no longer exists on the server (deleted): its consume task ends."""


async def _consumer_gone(sub: Any) -> bool:
    """True only when the server says the consumer does not exist (not on connection trouble)."""
    try:
        await sub.consumer_info()
    except nats.js.errors.NotFoundError:
        return True
    except Exception:
        return False
    return False


def origin_subject(subject: str) -> str:
    """The job-stream subject a delivered message stands for. The orchestrator's partitioned copy
    (`<prefix>.<partition>.<job>.<Type>`, services/orchestrator/partitions.py) names its job and type in
    its last two tokens; dead letters and logs speak of the job stream's subject."""
    parts = subject.split(".")
    if not subject.startswith(JOB_SUBJECT_PREFIX + ".") and len(parts) == 4 and parts[1].isdigit():
        return job_subject(parts[2], parts[3])
    return subject


class Delivery:
    """One delivery of a stream message to a consumer: its position and a way to keep it alive."""

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        meta = msg.metadata
        self.seq: int = meta.sequence.stream
        self.num_delivered: int = meta.num_delivered
        self.subject: str = origin_subject(msg.subject)
        self.headers: dict[str, str] = dict(msg.headers or {})

    async def in_progress(self) -> None:
        """Reset the ack timer during long work, so the message is not redelivered meanwhile."""
        with contextlib.suppress(Exception):
            await self._msg.in_progress()


@contextlib.asynccontextmanager
async def _kept_alive(msg: Msg, every_s: float) -> AsyncIterator[None]:
    """Progress acknowledgements for `msg` every `every_s` while the block runs (the handler works)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PublishAck(msgspec.Struct, frozen=True):
    seq: int
    duplicate: bool


class Bus:
    """A connection to NATS with JetStream; every service holds one."""

    def __init__(self, nc: NATS, name: str, denials: _Denials | None = None) -> None:
        self.nc = nc
        self._denials = denials or _Denials()  # fed by the connection's error callback (see connect)
        self.js = nc.jetstream(timeout=10.0)
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleanups: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()

    @classmethod
    async def connect(
        cls, url: str, name: str, *, login: NatsLogin | None = None, connect_timeout: float = 5.0
    ) -> Bus:
        """Connect as `login` (a service's own NATS user; None only for a NATS without users).

        With a login, replies come to the user's private inbox (`_INBOX.<user>`), the only one its
        permissions let it read.
        """
        denials = _Denials()
        extra: dict[str, Any] = {}
        if login is not None:
            extra = {"user": login.user, "password": login.password, "inbox_prefix": inbox_prefix(login.user)}
        refused = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            if (
                isinstance(exc, nats.errors.AuthorizationError)
                or "authorization violation" in str(exc).lower()
            ):
                refused.set()
            await denials.on_error(exc)

        # The client retries a first connection forever (right for a NATS that is still starting),
        # but wrong credentials never start working: stop at the first refusal and say so.
        # "nats://a:4222,nats://b:4222": every node of a cluster, so a node that is down at start-up is
        # skipped (nats-py takes a list, not a comma-separated string).
        servers = [u.strip() for u in url.split(",") if u.strip()]
        connecting = asyncio.ensure_future(
            nats.connect(
                servers if len(servers) > 1 else url,
                name=f"simswarm-{name}",
                connect_timeout=connect_timeout,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                error_cb=on_error,
                **extra,
            )
        )
        refusal = asyncio.ensure_future(refused.wait())
        try:
            await asyncio.wait({connecting, refusal}, return_when=asyncio.FIRST_COMPLETED)
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
                who = f"user {login.user!r}" if login else "an anonymous connection"
                raise BusUnavailable(
                    f"NATS at {_safe_url(url)} refused {who}: authorization violation "
                    "(check this service's NATS credentials: docs/security.md)"
                )
            nc = connecting.result()
        except BusUnavailable:
            raise
        except Exception as exc:  # nats raises a variety of errors for an unreachable server
            raise BusUnavailable(f"cannot connect to NATS at {_safe_url(url)}: {exc}") from exc
        finally:
            refusal.cancel()
        return cls(nc, name, denials)

    async def close(self) -> None:
        self._closing.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._cleanups:  # let pending consumer deletions reach the server
            await asyncio.wait(list(self._cleanups), timeout=2.0)
        with contextlib.suppress(Exception):
            await self.nc.drain()

    async def ping(self) -> bool:
        try:
            await self.nc.flush(timeout=2)
            await self.js.stream_info(JOB_STREAM)
            return True
        except Exception:
            return False

    async def last_seq(self) -> int:
        """The newest sequence of the job stream: no resume point (`after_seq`) can be past it."""
        info = await self.js.stream_info(JOB_STREAM)
        return int(info.state.last_seq)

    # -- streams -----------------------------------------------------------------------------

    async def ensure_streams(self, replicas: int = 1) -> None:
        """Create or update the streams of contracts.subjects.STREAMS (idempotent), each stored on
        `replicas` servers (settings.stream_replicas: 3 on a 3-node cluster)."""
        for d in STREAMS:
            cfg = api.StreamConfig(
                name=d.name,
                num_replicas=replicas,
                subjects=d.subjects,
                description=d.description,
                duplicate_window=d.duplicate_window_s,
                max_age=d.max_age_s or None,
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                allow_direct=True,
            )
            try:
                await self.js.add_stream(cfg)
            except nats.js.errors.BadRequestError:
                try:
                    await self._denials.guard(f"$JS.API.STREAM.UPDATE.{d.name}", self.js.update_stream(cfg))
                except PermissionDenied:
                    # Changing a stream is the orchestrator's alone (contracts.subjects.nats_permissions).
                    log.warning("stream %s differs from the contract; the orchestrator updates it", d.name)

    # -- publish -----------------------------------------------------------------------------

    async def publish(self, event: Event, *, retries: int = 5) -> PublishAck:
        """Publish a domain event; `Nats-Msg-Id` = event_id so a repeat is dropped by the stream."""
        headers = {"Nats-Msg-Id": event.event_id, "Simswarm-Event-Type": event.type}
        subject = job_subject(event.job_id, event.type)
        # An event that carries a traceparent already (the orchestrator's outbox stores the deciding
        # span's) is published as that span's child; otherwise the current span is the parent and the
        # envelope's optional `traceparent` is filled from it (for readers of the stream).
        with producer_span(event.type, subject, headers, parent_traceparent=event.traceparent) as span:
            span.set_attribute("messaging.message.id", event.event_id)
            span.set_attribute("simswarm.job_id", event.job_id)
            if event.traceparent is None:
                event = msgspec.structs.replace(event, traceparent=current_traceparent())
            payload = encode_event(event)
            # The stream not answering (a server restarting, a leader election): try again, 0.1 s
            # doubling to 2 s; the same Nats-Msg-Id makes a publish that did land count once.
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(retries + 1),
                    wait=wait_exponential(multiplier=0.1, max=2.0),
                    retry=retry_if_exception_type(_PUBLISH_TRANSIENT),
                    reraise=True,
                ):
                    with attempt:
                        ack = await self._denials.guard(
                            subject, self.js.publish(subject, payload, headers=headers, stream=JOB_STREAM)
                        )
            except _PUBLISH_TRANSIENT as exc:
                raise BusUnavailable(f"publishing {event.type} for job {event.job_id} failed: {exc}") from exc
            metrics.EVENTS_PUBLISHED.labels(event.type).inc()
            return PublishAck(seq=ack.seq, duplicate=bool(ack.duplicate))

    async def dead_letter(self, payload: bytes, *, reason: str, source_subject: str, seq: int | None) -> None:
        """Set a message aside for operators, with why and where it came from."""
        headers = {"Simswarm-Reason": reason[:500], "Simswarm-Source-Subject": source_subject}
        if seq is not None:
            headers["Simswarm-Source-Seq"] = str(seq)
            headers["Nats-Msg-Id"] = f"{self.name}:{seq}"
        try:
            await self.js.publish(
                deadletter_subject(self.name), payload, headers=headers, stream=DEADLETTER_STREAM
            )
        except Exception:
            log.exception("could not dead-letter message %s seq=%s", source_subject, seq)

    # -- consume -----------------------------------------------------------------------------

    async def consume(
        self,
        durable: str,
        event_types: list[str],
        handler: EventHandler,
        *,
        max_ack_pending: int = 64,
        ack_wait: float = ACK_WAIT_S,
        max_deliver: int = 10,
        deliver_new: bool = False,
        stream: str = JOB_STREAM,
        filter_subjects: list[str] | None = None,
    ) -> asyncio.Task[None]:
        """Run a durable pull consumer over the job stream, filtered to `event_types` (or over
        `stream`, filtered to `filter_subjects`: the orchestrator's partitions of its inbound events).

        A handler that returns acks the message; one that raises naks it with backoff, and on the
        last allowed delivery the message is dead-lettered. Malformed payloads are dead-lettered at once.
        While a handler runs, the message is kept alive with `in_progress()` every `ack_wait / 3`, so
        `ack_wait` only bounds how long a message held by a dead process waits for another one.
        """
        filters = filter_subjects or [event_filter(t) for t in event_types]
        cfg = api.ConsumerConfig(
            name=durable,
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.NEW if deliver_new else api.DeliverPolicy.ALL,
            max_ack_pending=max_ack_pending,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            **({"filter_subject": filters[0]} if len(filters) == 1 else {"filter_subjects": filters}),
        )
        try:
            await self.js.add_consumer(stream, cfg)
        except nats.js.errors.BadRequestError as exc:
            # An existing durable with a config that cannot change in place (e.g. deliver policy):
            # keep it, and say so instead of failing the service.
            log.warning("consumer %s exists with another config (%s); using it as it is", durable, exc)
        sub = await self.js.pull_subscribe_bind(durable=durable, stream=stream)
        task = asyncio.create_task(
            self._consume_loop(sub, handler, max_ack_pending, max_deliver, durable, ack_wait),
            name=f"consume:{durable}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _consume_loop(
        self,
        sub: Any,
        handler: EventHandler,
        slots: int,
        max_deliver: int,
        durable: str,
        ack_wait: float = ACK_WAIT_S,
    ) -> None:
        sem = asyncio.Semaphore(slots)
        inflight: set[asyncio.Task[None]] = set()
        lag_at = 0.0
        try:
            while not self._closing.is_set():
                if time.monotonic() - lag_at >= LAG_INTERVAL_S:
                    lag_at = time.monotonic()
                    await self._record_lag(sub, durable)
                await sem.acquire()
                free = 1
                while free < slots and not sem.locked():
                    await sem.acquire()
                    free += 1
                try:
                    msgs = await sub.fetch(batch=free, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    msgs = []
                except Exception as exc:  # connection trouble: back off and try again
                    if await _consumer_gone(sub):
                        # Deleted on the server: fetching again would fail forever while the service
                        # looks alive. End the task; run_until_stopped then stops the service.
                        raise ConsumerGone(f"consumer {durable} no longer exists on the server") from exc
                    log.warning("fetch failed: %s", exc)
                    msgs = []
                    await asyncio.sleep(0.5)
                for _ in range(free - len(msgs)):
                    sem.release()
                for msg in msgs:
                    t = asyncio.create_task(self._handle(msg, handler, max_deliver, sem, durable, ack_wait))
                    inflight.add(t)
                    t.add_done_callback(inflight.discard)
        finally:
            for t in list(inflight):
                t.cancel()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    @staticmethod
    async def _record_lag(sub: Any, durable: str) -> None:
        """The consumer's backlog from the server's consumer info (metrics; best effort)."""
        try:
            info = await sub.consumer_info()
        except Exception as exc:
            log.debug("consumer info for %s: %s", durable, exc)
            return
        metrics.CONSUMER_PENDING.labels(durable).set(info.num_pending or 0)
        metrics.CONSUMER_ACK_PENDING.labels(durable).set(info.num_ack_pending or 0)

    async def _handle(
        self,
        msg: Msg,
        handler: EventHandler,
        max_deliver: int,
        sem: asyncio.Semaphore,
        durable: str,
        ack_wait: float = ACK_WAIT_S,
    ) -> None:
        """One message, in a CONSUMER span parented by its headers, with its job id in the logs."""
        headers = msg.headers or {}
        name = headers.get("Simswarm-Event-Type") or msg.subject.rsplit(".", 1)[-1]
        job_id = msg.subject.split(".")[2] if msg.subject.count(".") >= 3 else None
        start = time.perf_counter()
        outcome = "ack"
        with (
            consumer_span(
                name, msg.subject, headers, consumer=durable, message_id=headers.get("Nats-Msg-Id")
            ),
            job_context(job_id),
        ):
            try:
                async with _kept_alive(msg, ack_wait / 3):
                    outcome = await self._handle_in_span(msg, handler, max_deliver)
            finally:
                sem.release()
                metrics.EVENT_HANDLING_SECONDS.labels(durable, name, outcome).observe(
                    time.perf_counter() - start
                )

    async def _handle_in_span(self, msg: Msg, handler: EventHandler, max_deliver: int) -> str:
        """Handle, then ack / nak / dead-letter; returns which (for the metrics)."""
        outcome = "ack"
        try:
            delivery = Delivery(msg)
            try:
                event = decode_event(msg.data)
            except MalformedEvent as exc:
                log.error("malformed event on %s (seq %s) set aside: %s", msg.subject, delivery.seq, exc)
                await self.dead_letter(
                    msg.data, reason=f"malformed: {exc}", source_subject=delivery.subject, seq=delivery.seq
                )
                await msg.term()
                return "dead_letter"
            try:
                await handler(event, delivery)
            except asyncio.CancelledError:
                # Stopping mid-work (SIGTERM, a restart): hand the message back at once, so the next
                # process re-attaches now rather than after ack_wait. A kill leaves it to ack_wait.
                with contextlib.suppress(Exception):
                    await asyncio.shield(msg.nak())
                raise
            except Exception as exc:
                if delivery.num_delivered >= max_deliver:
                    log.exception("giving up on %s after %d deliveries", msg.subject, delivery.num_delivered)
                    await self.dead_letter(
                        msg.data,
                        reason=f"failed {delivery.num_delivered}x: {exc}",
                        source_subject=delivery.subject,
                        seq=delivery.seq,
                    )
                    await msg.term()
                    return "dead_letter"
                delay = min(30.0, 0.2 * 2 ** (delivery.num_delivered - 1)) * (0.5 + random.random())
                log.warning(
                    "handler failed on %s (delivery %d), retrying in %.1fs: %s",
                    msg.subject,
                    delivery.num_delivered,
                    delay,
                    exc,
                )
                await msg.nak(delay=delay)
                return "retry"
            await msg.ack()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ack/nak failed for %s", msg.subject)
            outcome = "ack_failed"
        return outcome

    # -- replay ------------------------------------------------------------------------------

    async def job_events(self, job_id: str, after_seq: int = 0) -> list[tuple[int, AnyEvent]]:
        """A job's whole timeline (or since `after_seq`), read from the stream; malformed entries skipped."""
        out: list[tuple[int, AnyEvent]] = []
        async for seq, ev in self._replay(job_filter(job_id), after_seq, follow=False):
            out.append((seq, ev))
        return out

    async def follow_job(self, job_id: str, after_seq: int = 0) -> AsyncIterator[tuple[int, AnyEvent]]:
        """Replay then follow a job's events live. Never ends by itself: the caller stops iterating."""
        async for item in self._replay(job_filter(job_id), after_seq, follow=True):
            yield item

    async def open_job_replay(self, job_id: str, after_seq: int = 0) -> Replay:
        """A job's events after `after_seq`, with its consumer created now (so a failure is raised
        here, before a response has started); the caller must `close()` it."""
        return await Replay(self, job_filter(job_id), after_seq).open()

    async def _replay(
        self, subject: str, after_seq: int, *, follow: bool
    ) -> AsyncIterator[tuple[int, AnyEvent]]:
        replay = await Replay(self, subject, after_seq).open()
        try:
            async for item in replay.events(follow=follow):
                yield item
        finally:
            replay.close()

    async def _drop_consumer(self, name: str, sub: Any) -> None:
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        try:
            await self.js.delete_consumer(JOB_STREAM, name)
        except nats.js.errors.NotFoundError:
            pass  # never created, or the server removed it already
        except Exception as exc:  # NATS away: the server's inactivity threshold removes it
            log.debug("could not delete replay consumer %s: %s", name, exc)

    def _spawn_cleanup(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def last_event(self, job_id: str, event_type: str) -> AnyEvent | None:
        """The newest event of one type for a job (e.g. its JobCreated), or None."""
        try:
            raw = await self.js.get_last_msg(JOB_STREAM, job_subject(job_id, event_type))
        except nats.js.errors.NotFoundError:
            return None
        if raw.data is None:
            return None
        return decode_event(raw.data)

    # -- commands (core request/reply) ---------------------------------------------------------

    async def request(
        self, subject: str, payload: msgspec.Struct, reply_type: type[T], *, timeout: float = 10.0
    ) -> T:
        headers: dict[str, str] = {}
        with client_span(subject, headers):
            try:
                msg = await self._denials.guard(
                    subject,
                    self.nc.request(
                        subject, msgspec.json.encode(payload), timeout=timeout, headers=headers or None
                    ),
                )
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError) as exc:
                raise BusUnavailable(f"no answer on {subject}: {type(exc).__name__}") from exc
        return msgspec.json.decode(msg.data, type=reply_type)

    async def serve(self, subject: str, queue: str, handler: Callable[[bytes], Awaitable[bytes]]) -> None:
        """Answer requests on `subject` in a queue group; the handler returns the reply bytes."""

        async def on_msg(msg: Msg) -> None:
            with server_span(subject, msg.headers):
                try:
                    reply = await handler(msg.data)
                except Exception:
                    log.exception("command handler for %s failed", subject)
                    reply = msgspec.json.encode({"ok": False, "error": "internal error", "code": "internal"})
                if msg.reply:
                    await msg.respond(reply)

        await self.nc.subscribe(subject, queue=queue, cb=on_msg)


class Replay:
    """Messages of `subject` after `after_seq`, read through a consumer that exists while this is open.

    The consumer is named so it can be deleted when the reader stops for any reason (end, error,
    cancellation of a dropped request); a reader that vanishes without closing (a killed process)
    leaves it to the server, which removes it after `REPLAY_INACTIVE_S` idle.
    """

    def __init__(self, bus: Bus, subject: str, after_seq: int) -> None:
        self._bus = bus
        self.subject = subject
        self.after_seq = after_seq
        self.name = f"replay-{_consumer_safe(bus.name)}-{uuid.uuid4().hex[:16]}"
        self.pending = 0  # messages after `after_seq` when the consumer was created
        self._sub: Any = None
        self._closed = False

    async def open(self) -> Replay:
        after = self.after_seq
        cfg = api.ConsumerConfig(
            name=self.name,
            ack_policy=api.AckPolicy.NONE,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if after else api.DeliverPolicy.ALL,
            opt_start_seq=after + 1 if after else None,
            filter_subject=self.subject,
            inactive_threshold=REPLAY_INACTIVE_S,
            mem_storage=True,
            num_replicas=1,
        )
        try:
            info = await self._bus.js.add_consumer(JOB_STREAM, cfg)
            self._sub = await self._bus.js.pull_subscribe_bind(consumer=self.name, stream=JOB_STREAM)
        except BaseException:
            self.close()  # the create may have reached the server before the failure or cancellation
            raise
        self.pending = int(info.num_pending or 0)
        return self

    async def events(self, *, follow: bool) -> AsyncGenerator[tuple[int, AnyEvent], None]:
        """The messages in order; with `follow`, then new ones as they come, until the caller stops."""
        if not follow and self.pending == 0:
            return
        while True:
            try:
                msgs = await self._sub.fetch(batch=256, timeout=1.0 if follow else 2.0)
            except (TimeoutError, nats.errors.TimeoutError):
                if follow:
                    continue
                return
            pending = 0
            for msg in msgs:
                meta = msg.metadata
                pending = meta.num_pending
                try:
                    yield meta.sequence.stream, decode_event(msg.data)
                except MalformedEvent:
                    log.warning("skipping malformed event at seq %s", meta.sequence.stream)
            if not follow and pending == 0:
                return

    def close(self) -> None:
        """Delete the consumer. Not awaited: a cancelled request (a dropped SSE client) may not await
        any more, yet its consumer must go now rather than when the server notices it is idle."""
        if not self._closed:
            self._closed = True
            self._bus._spawn_cleanup(self._bus._drop_consumer(self.name, self._sub))
