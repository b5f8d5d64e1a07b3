"""Structured logs: one JSON object per line when stderr is not a terminal, carrying job_id and trace_id.

`job_id` comes from a context variable the bus's consumer middleware sets for each handled message
(and any code may set with `job_context`); `trace_id` and `span_id` from the current OpenTelemetry
span. On a terminal the same fields are appended to a readable line. Uses python-json-logger's
formatter (docs/operations.md#logs).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO, Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

current_job_id: ContextVar[str | None] = ContextVar("simswarm_job_id", default=None)

_NOISY = ("botocore", "aiobotocore", "nats", "urllib3", "httpx", "httpcore", "fontTools", "matplotlib")


@contextlib.contextmanager
def job_context(job_id: str | None) -> Iterator[None]:
    """Log records inside this block carry `job_id`."""
    token = current_job_id.set(job_id)
    try:
        yield
    finally:
        current_job_id.reset(token)


class ContextFilter(logging.Filter):
    """Adds `service`, `job_id`, `trace_id` and `span_id` (None outside a job or a trace) to each record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        if getattr(record, "job_id", None) is None:
            record.job_id = current_job_id.get()
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        return True


class TextFormatter(logging.Formatter):
    """A readable line for a terminal, with the job and trace ids when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = [f"{k}={getattr(record, k)}" for k in ("job_id", "trace_id") if getattr(record, k, None)]
        return f"{line} [{' '.join(extra)}]" if extra else line


def json_formatter() -> logging.Formatter:
    """JSON lines: timestamp, level, logger, message, service, job_id, trace_id, span_id (and exc_info)."""
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}{service}{job_id}{trace_id}{span_id}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def setup_logging(
    level: str = "INFO", service: str = "", *, stream: IO[str] | None = None, json_lines: bool | None = None
) -> None:
    """Configure the root logger: JSON when `stream` (stderr) is not a terminal, else readable text."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not _isatty(stream)
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter(service))
    fmt: logging.Formatter
    if json_lines:
        fmt = json_formatter()
    else:
        fmt = TextFormatter(
            f"%(asctime)s %(levelname)s {service + ' ' if service else ''}%(name)s: %(message)s"
        )
    handler.setFormatter(fmt)
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
