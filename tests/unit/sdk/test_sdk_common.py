"""The SDK's pure parts: which failures are retried, how Retry-After is read, typed errors by
status, and the refusal of file names that would leave the download folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from simswarm.client import (
    ApiError,
    AuthenticationError,
    Conflict,
    ConnectionFailed,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    ValidationError,
)
from simswarm.client._common import retry_after_s, target_path
from simswarm.client.errors import error_for


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (404, NotFound),
        (409, Conflict),
        (422, ValidationError),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServiceUnavailable),
        (418, ApiError),
    ],
)
def test_errors_are_typed_by_status_and_keep_the_code(status, cls):
    err = error_for(status, "goal: is required", "invalid_spec", 3.0)
    assert type(err) is cls and err.code == "invalid_spec" and err.retry_after == 3.0
    assert "goal: is required" in str(err) and f"HTTP {status}" in str(err)


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after_s("7") == 7.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after_s(later) or 0) <= 31


def test_what_is_retried():
    policy = RetryPolicy(max_retry_after_s=60)
    never_sent = ConnectionFailed(0, "refused", "unreachable")
    never_sent.never_sent = True
    lost = ConnectionFailed(0, "reset", "unreachable")
    assert policy.should_retry(lost, idempotent=True) and not policy.should_retry(lost, idempotent=False)
    assert policy.should_retry(never_sent, idempotent=False)
    assert policy.should_retry(error_for(429, "slow down", "rate_limited", 2), idempotent=False)
    assert not policy.should_retry(error_for(429, "slow down", "rate_limited", 600), idempotent=True)
    assert policy.should_retry(error_for(502, "orchestrator", None), idempotent=True)
    assert not policy.should_retry(error_for(502, "orchestrator", None), idempotent=False)
    assert not policy.should_retry(error_for(422, "bad", "invalid_spec"), idempotent=True)
    assert not policy.should_retry(error_for(404, "gone", "job_not_found"), idempotent=True)


def test_how_long_a_retry_waits():
    policy = RetryPolicy(backoff_s=0.5, backoff_max_s=8.0)
    assert policy.delay_s(3, error_for(503, "busy", None, 4.0)) == 4.0  # the server's Retry-After
    for failures, cap in [(1, 0.5), (2, 1.0), (4, 4.0), (9, 8.0)]:  # doubling, capped, with jitter
        waits = [policy.delay_s(failures, ConnectionFailed(0, "reset", "unreachable")) for _ in range(50)]
        assert all(cap / 2 <= w <= cap for w in waits) and len(set(waits)) > 1


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/b.json", ".hidden", "..", "", "x\x00y", "a" * 300]
)
def test_unsafe_names_are_refused(name, tmp_path: Path):
    with pytest.raises(ApiError, match="unsafe file name"):
        target_path(tmp_path, name)


def test_safe_names_stay_in_the_folder(tmp_path: Path):
    assert target_path(tmp_path, "market_curves.json") == tmp_path / "market_curves.json"


def test_the_api_is_found_in_the_environment_or_the_local_stack(tmp_path: Path, monkeypatch) -> None:
    from services.kit.settings import write_stack_file
    from simswarm.client import NotConfigured, resolve_endpoint

    monkeypatch.delenv("SIMSWARM_API_URL", raising=False)
    monkeypatch.delenv("SIMSWARM_API_KEY", raising=False)
    with pytest.raises(NotConfigured, match="set SIMSWARM_API_URL and SIMSWARM_API_KEY"):
        resolve_endpoint(tmp_path)
    write_stack_file(tmp_path, {"gateway_host": "127.0.0.1", "gateway_port": 8123})
    (tmp_path / "api-key").write_text("key-1\n")
    assert resolve_endpoint(tmp_path) == ("http://127.0.0.1:8123", "key-1")
    monkeypatch.setenv("SIMSWARM_API_URL", "https://simswarm.example/")
    monkeypatch.setenv("SIMSWARM_API_KEY", "key-2")
    assert resolve_endpoint(tmp_path) == ("https://simswarm.example", "key-2")
