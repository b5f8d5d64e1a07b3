"""Stream slots: per-user and total caps, read from the settings at each request; release is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.errors import ApiError
from services.gateway.streams import StreamLimiter
from services.kit.settings import Settings


def test_caps_per_user_then_in_total_and_slots_come_back():
    settings = Settings(home=Path("/nonexistent"), max_streams_per_user=2, max_open_streams=3)
    limiter = StreamLimiter(settings)
    a = [limiter.acquire("alice"), limiter.acquire("alice")]
    with pytest.raises(ApiError) as over:
        limiter.acquire("alice")
    assert (over.value.status, over.value.code) == (429, "too_many_streams")
    assert over.value.headers == {"Retry-After": "5"} and "2 streams" in over.value.detail
    b = limiter.acquire("bob")
    with pytest.raises(ApiError) as full:
        limiter.acquire("bob")
    assert (full.value.status, full.value.code) == (503, "streams_full")
    a[0].release()
    a[0].release()  # twice: counted once
    assert limiter.total == 2 and limiter.by_user == {"alice": 1, "bob": 1}
    b.release()
    a[1].release()
    assert limiter.total == 0 and not limiter.by_user
    settings.max_streams_per_user = 0  # an operator's change applies to the next request
    with pytest.raises(ApiError):
        limiter.acquire("carol")
