"""Tracing is configured by the standard OTEL_* variables only, and keeps background polling out of it."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.kit.telemetry import _NoOrphanQueries, otel_env, tracing_enabled


def test_tracing_is_on_only_when_an_otlp_endpoint_is_set_and_not_disabled():
    assert not tracing_enabled({})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not tracing_enabled(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    )


def test_a_pod_gets_every_otel_variable_and_nothing_else():
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "S3_SECRET_KEY": "s",
    }
    assert otel_env(env) == {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_BSP_SCHEDULE_DELAY": "200"}


def test_a_query_outside_any_span_is_dropped_and_one_inside_a_job_is_kept():
    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=_NoOrphanQueries())
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("SELECT relay position", attributes={"db.system": "postgresql"}):
        pass  # the relay's poll: would be a trace of its own every second
    with (
        tracer.start_as_current_span("process RunCompleted"),
        tracer.start_as_current_span("INSERT event", attributes={"db.system": "postgresql"}),
    ):
        pass
    with tracer.start_as_current_span("GET /api/ready"):
        pass  # a root that is not a query stays
    assert [s.name for s in exported.get_finished_spans()] == [
        "INSERT event",
        "process RunCompleted",
        "GET /api/ready",
    ]
