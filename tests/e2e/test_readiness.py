"""`/api/ready` of the whole platform (`simswarm up`) follows the orchestrator process: 503 naming it
while it is frozen (SIGSTOP), ready again once it runs (SIGCONT). Polls with deadlines, no fixed sleeps.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _wait_status(url: str, status: int, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=10)
            if last.status_code == status:
                return last
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer {status} within {timeout:.0f}s; last: {last and last.text}")


def test_ready_follows_a_frozen_orchestrator(platform):
    url = f"{platform.api_url}/api/ready"
    assert _wait_status(url, 200).json()["checks"]["orchestrator"] == "ok"
    proc = platform.procs["orchestrator"].proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        body = _wait_status(url, 503).json()
        assert body["code"] == "not_ready" and "orchestrator unavailable" in body["detail"], body
        assert body["checks"]["orchestrator"] == "unavailable"
        assert {body["checks"][k] for k in ("nats", "postgres", "object_store")} == {"ok"}
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _wait_status(url, 200)
