"""OpenTelemetry wiring: a tracer per service and W3C trace context carried in message headers."""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.context import Context


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(f"simswarm.{name}")


def inject_traceparent(headers: dict[str, str]) -> None:
    """Add the current span's `traceparent` (if any) to outgoing headers."""
    propagate.inject(headers)


def extract_context(headers: dict[str, str] | None) -> Context:
    return propagate.extract(headers or {})


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def setup_tracing(service: str) -> None:
    """Install an SDK tracer provider; exporters are configured by the standard OTEL_* variables."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": f"simswarm-{service}"})))
