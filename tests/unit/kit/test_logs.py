"""Structured logs (issue 10, item 3): JSON lines when stderr is not a terminal, carrying the job id
(from the context the bus's consumer middleware sets) and the trace id of the current span."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.kit.logs import job_context, setup_logging


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_not_a_terminal_gets_one_json_object_per_line_with_job_and_trace_ids():
    out = io.StringIO()  # not a terminal, like a container's or supervisor's log file
    setup_logging("INFO", "orchestrator", stream=out)
    tracer = TracerProvider().get_tracer("test")  # a recording span, without touching the global provider
    with tracer.start_as_current_span("process PodReady") as span, job_context("job-42"):
        logging.getLogger("services.orchestrator.inbound").info(
            "job %s: %s", "job-42", "PodReady -> RunRequested"
        )
    logging.getLogger("services.orchestrator").warning("outside any job")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    ctx = span.get_span_context()
    assert first["message"] == "job job-42: PodReady -> RunRequested"
    assert first["level"] == "INFO" and first["logger"] == "services.orchestrator.inbound"
    assert first["service"] == "orchestrator" and first["job_id"] == "job-42"
    assert first["trace_id"] == format(ctx.trace_id, "032x") and first["span_id"] == format(
        ctx.span_id, "016x"
    )
    assert first["time"]
    assert second["job_id"] is None and second["trace_id"] is None and second["level"] == "WARNING"


def test_an_exception_stays_inside_its_json_line():
    out = io.StringIO()
    setup_logging("INFO", "reporter", stream=out)
    try:
        raise ValueError("broken chart")
    except ValueError:
        logging.getLogger("x").exception("report failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "report failed" and "ValueError: broken chart" in record["exc_info"]


def test_a_terminal_gets_a_readable_line_with_the_ids_appended():
    out = _Tty()
    setup_logging("INFO", "podmanager", stream=out)
    with job_context("job-7"):
        logging.getLogger("p").info("pod ready")
    line = out.getvalue().strip()
    assert "INFO podmanager p: pod ready" in line and line.endswith("[job_id=job-7]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
