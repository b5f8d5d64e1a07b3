"""An in-memory tail of the worker's log for `GET /logs`, with secrets scrubbed on the way in."""

from __future__ import annotations

import collections
import logging
import re
import threading

# Presigned URLs carry their credentials in the query string; bearer tokens in headers.
_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Drop URL query strings (presigned signatures), bearer tokens and the given secret strings."""
    text = _QUERY.sub(r"\1?<redacted>", text)
    text = _BEARER.sub(r"\1<redacted>", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


class LogBuffer(logging.Handler):
    """Keeps the last `capacity` formatted, redacted records (thread-safe: the engine logs from a thread)."""

    def __init__(self, capacity: int, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(level=logging.INFO)
        self._lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self._secrets = secrets
        self._guard = threading.Lock()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = redact(self.format(record), self._secrets)
        except Exception:  # a broken log call must never break the worker
            return
        with self._guard:
            self._lines.append(line)

    def tail(self, n: int) -> list[str]:
        """The last `n` lines, oldest first."""
        with self._guard:
            lines = list(self._lines)
        return lines[-n:] if n > 0 else []
