"""Projection rows and events into API shapes; keys hashed at rest; error formatting; resume points."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.events import RunProgressed, new_event
from services.gateway.app import create_app
from services.gateway.errors import ApiError, format_validation_errors
from services.gateway.metrics import Metrics
from services.gateway.resume import parse_resume_point
from services.gateway.shaping import artifact_list, shape_event, shape_job
from services.gateway.tokens import hash_token, looks_like_token, new_api_key, new_session_token, token_prefix
from services.kit.settings import Settings

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_a_running_job_is_shaped_with_progress_timings_pod_and_availability():
    row = {
        "job_id": "abc",
        "owner_id": "u1",
        "status": "running",
        "stage": "simulating",
        "tier": "small",
        "goal": "Will it?",
        "round": 3,
        "rounds": 12,
        "created_at": T0,
        "timings": json.dumps(
            {"provisioning": {"start": "2025-01-01T12:00:00+00:00", "end": "2025-01-01T12:01:30+00:00"}}
        ),
        "pod": {
            "provider": "local",
            "pod_name": "simswarm-abc-a1",
            "pod_id": "secret-ish",
            "gpu_type": "L40S",
            "cost_per_hour": 1.5,
            "cost": 0.2,
        },
        "artifacts": '[{"name": "posts.json", "key": "jobs/abc/artifacts/posts.json", "size": 2, "sha256": "x"}]',
        "prices": {"m": 0.6},
        "report_key": None,
    }
    job = shape_job(row)
    assert job["progress"] == {"round": 3, "rounds": 12, "percent": 25.0}
    assert job["timings"]["provisioning"]["seconds"] == 90.0
    assert job["pod"] == {
        "provider": "local",
        "pod_name": "simswarm-abc-a1",
        "gpu_type": "L40S",
        "cost_per_hour": 1.5,
        "cost": 0.2,
    }
    assert job["artifacts"] == {
        "count": 1,
        "files": ["posts.json"],
        "sim_data": True,
        "report": False,
        "graph": False,
    }
    assert job["created_at"] == T0.isoformat() and job["terminal"] is False and "owner_id" not in job
    assert job["links"]["stream"] == "/api/jobs/abc/stream"


def test_a_minimal_row_still_shapes():
    job = shape_job({"job_id": "j", "status": "completed"})
    assert job["terminal"] is True and job["pod"] is None and job["markets"] == [] and job["timings"] == {}
    assert artifact_list({"artifacts": [{"name": "n"}, "junk", {"name": "a", "key": "k"}]}) == [
        {"name": "a", "key": "k"}
    ]


def test_events_become_timeline_entries():
    ev = new_event(RunProgressed, "j", run_id="j-a1", round=2, rounds=5, prices={"m": 0.4}, occurred_at=T0)
    entry = shape_event(17, ev)
    assert entry["seq"] == 17 and entry["type"] == "RunProgressed" and entry["occurred_at"] == T0.isoformat()
    assert entry["data"]["prices"] == {"m": 0.4} and entry["data"]["type"] == "RunProgressed"


def test_keys_are_stored_as_sha256_and_shown_by_prefix():
    key = new_api_key()
    assert key.startswith("ssk_") and looks_like_token(key) and new_session_token().startswith("sst_")
    assert hash_token(key) == hashlib.sha256(key.encode()).hexdigest() != key
    assert token_prefix(key) == key[:12] and len(token_prefix(key)) < len(key) // 3
    assert not looks_like_token("Bearer nonsense") and new_api_key() != key


def test_validation_errors_name_the_field():
    errors = [
        {"loc": ("query", "per_page"), "msg": "Input should be less than or equal to 100"},
        {"loc": ("body", "email"), "msg": "Field required"},
    ]
    assert format_validation_errors(errors) == (
        "per_page: Input should be less than or equal to 100; email: Field required"
    )


def test_resume_point_prefers_last_event_id():
    assert (
        parse_resume_point("42", 7) == 42
        and parse_resume_point(None, 7) == 7
        and parse_resume_point(None, None) == 0
    )
    with pytest.raises(ApiError) as info:
        parse_resume_point("x", None)
    assert info.value.status == 400 and info.value.code == "invalid_last_event_id"
    for header, query in (("-1", None), ("43", None), (None, 43)):
        with pytest.raises(ApiError) as info:
            parse_resume_point(header, query, last_seq=42)
        assert info.value.status == 422
        assert info.value.detail.startswith("Last-Event-ID:" if header else "after_seq:")


def test_metrics_render_prometheus_text():
    from prometheus_client import REGISTRY

    labels = {"service": "gateway", "method": "GET", "route": "/api/jobs/{job_id}", "status": "200"}
    before = REGISTRY.get_sample_value("simswarm_http_request_duration_seconds_count", labels) or 0.0
    m = Metrics()
    m.observe("GET", "/api/jobs/{job_id}", 200, 0.5)
    m.open_streams += 1
    text = m.render()
    assert REGISTRY.get_sample_value("simswarm_http_request_duration_seconds_count", labels) == before + 1
    assert (
        'simswarm_http_request_duration_seconds_bucket{le="0.5",method="GET",route="/api/jobs/{job_id}"'
        in text
    )
    assert "# TYPE simswarm_gateway_open_streams gauge" in text
    m.open_streams -= 1


def test_openapi_documents_error_bodies_on_every_route():
    doc = create_app(Settings(home=Path("/nonexistent"))).openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "500" in op["responses"], (method, path)
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")) and path != "/api/ready":
                    schema = resp["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            if path.startswith("/api/jobs") or path.startswith("/api/keys"):
                assert "401" in op["responses"], (method, path)
    assert "JobSpec" in doc["components"]["schemas"]
