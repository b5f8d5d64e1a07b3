"""OpenTelemetry wiring: a tracer per service, spans for NATS hops, and W3C context in message headers.

Tracing is configured only by the standard `OTEL_*` variables: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans go to that OTLP/HTTP receiver; unset (or
`OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`) nothing is recorded. The bus calls
`producer_span` / `consumer_span` / `server_span` around every publish and handled message, so a
trace follows a job through every service without any code passing trace context by hand (the habit
of faststream's telemetry middleware; docs/operations.md#tracing).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, _get_from_env_or_default
from opentelemetry.trace import SpanKind

log = logging.getLogger(__name__)

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# The OTEL_* variables a child process (a local pod) needs to join the trace.
OTEL_PREFIX = "OTEL_"
_bus_tracer = trace.get_tracer("simswarm.bus")


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(f"simswarm.{name}")


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """True when the OTEL_* variables ask for an OTLP exporter (the standard names, nothing else)."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return any(env.get(var) for var in _ENDPOINT_VARS)


def otel_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The OTEL_* variables of `env` (for a child process that should report to the same collector)."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k.startswith(OTEL_PREFIX)}


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None outside any trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits (for logs), or None."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def extract_context(headers: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(headers or {}))


def _nats_attributes(subject: str, operation: str) -> dict[str, str]:
    return {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.type": operation,
    }


@contextlib.contextmanager
def producer_span(
    name: str, subject: str, headers: dict[str, str], *, parent_traceparent: str | None = None
) -> Iterator[trace.Span]:
    """A PRODUCER span around a publish, its context injected into `headers`.

    `parent_traceparent` (an outbox event's stored context) parents the span when given, so a
    relayed decision continues the trace of the span that made it rather than the relay's loop.
    """
    parent = propagate.extract({"traceparent": parent_traceparent}) if parent_traceparent else None
    with _bus_tracer.start_as_current_span(
        f"publish {name}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes=_nats_attributes(subject, "publish"),
    ) as span:
        propagate.inject(headers)
        yield span


@contextlib.contextmanager
def consumer_span(
    name: str,
    subject: str,
    headers: Mapping[str, str] | None,
    *,
    consumer: str,
    message_id: str | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span for one handled message, parented by the producer's context from its headers."""
    attrs = _nats_attributes(subject, "process")
    attrs["messaging.consumer.group.name"] = consumer
    if message_id:
        attrs["messaging.message.id"] = message_id
    with _bus_tracer.start_as_current_span(
        f"process {name}", context=extract_context(headers), kind=SpanKind.CONSUMER, attributes=attrs
    ) as span:
        yield span


@contextlib.contextmanager
def client_span(subject: str, headers: dict[str, str]) -> Iterator[trace.Span]:
    """A CLIENT span around a request/reply command, its context injected into `headers`."""
    with _bus_tracer.start_as_current_span(
        f"send {subject}", kind=SpanKind.CLIENT, attributes=_nats_attributes(subject, "send")
    ) as span:
        propagate.inject(headers)
        yield span


@contextlib.contextmanager
def server_span(subject: str, headers: Mapping[str, str] | None) -> Iterator[trace.Span]:
    """A SERVER span answering one command, parented by the requester's context."""
    with _bus_tracer.start_as_current_span(
        f"process {subject}",
        context=extract_context(headers),
        kind=SpanKind.SERVER,
        attributes=_nats_attributes(subject, "process"),
    ) as span:
        yield span


class _NoOrphanQueries(Sampler):
    """A sampler that drops a database span with no parent and defers everything else to the
    configured sampler (OTEL_TRACES_SAMPLER, parent-based always-on by default).

    The relay, the projection and the timers poll Postgres every second outside any job; as roots,
    those queries would be a trace each, every second, burying the jobs' traces.
    """

    def __init__(self) -> None:
        self._delegate = _get_from_env_or_default()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if (
            not parent.is_valid
            and attributes
            and ("db.system" in attributes or "db.system.name" in attributes)
        ):
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoOrphanQueries({self._delegate.get_description()})"


def setup_tracing(service: str) -> bool:
    """Install an SDK tracer provider exporting OTLP over HTTP, and the instrumentation packages
    (httpx, asyncpg, psycopg), when the OTEL_* variables ask for it. Returns whether tracing is on.

    Off (the default) leaves OpenTelemetry's no-op provider: spans cost nothing and the context that
    arrives in headers is still passed on unchanged.
    """
    from opentelemetry.sdk.trace import TracerProvider

    if not tracing_enabled():
        return False
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return True
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attrs = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"simswarm-{service}"}
    provider = TracerProvider(resource=Resource.create(attrs), sampler=_NoOrphanQueries())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument_clients()
    log.info(
        "tracing on: OTLP/HTTP to %s",
        next(os.environ[v] for v in reversed(_ENDPOINT_VARS) if os.environ.get(v)),
    )
    return True


def _instrument_clients() -> None:
    """HTTP client and database spans from the OpenTelemetry instrumentation packages."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    for instrumentor in (HTTPXClientInstrumentor(), AsyncPGInstrumentor(), PsycopgInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def shutdown_tracing() -> None:
    """Flush and stop the exporter (at process exit), so the last spans are not lost."""
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
