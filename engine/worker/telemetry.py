"""Tracing for the pod worker, configured only by the standard OTEL_* variables (the local provider
passes the platform's to each pod), so a run joins the job's trace: a SERVER span per request from
litestar's OpenTelemetry plugin, a CLIENT span per artifact upload from httpx's instrumentation.

Off when no OTLP endpoint is set. The engine imports nothing of the services, so this is the worker's
own small copy of what services/kit/telemetry.py does for the services.
"""

from __future__ import annotations

import os
from typing import Any

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return any(os.environ.get(var) for var in _ENDPOINT_VARS)


def setup_tracing() -> list[Any]:
    """Install the OTLP/HTTP exporter and httpx's instrumentation; returns the litestar plugins to add."""
    if not tracing_enabled():
        return []
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        attrs = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "simswarm-worker"}
        provider = TracerProvider(resource=Resource.create(attrs))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        instrumentor = HTTPXClientInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return [OpenTelemetryPlugin(OpenTelemetryConfig())]


def shutdown_tracing() -> None:
    """Flush the last spans (the pod is about to stop)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
