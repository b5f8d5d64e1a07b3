"""The OpenAPI document itself: valid OpenAPI 3.1, the SSE stream declared per event (an event the
gateway really sends validates against it), and the headers errors carry declared.

The document is fuzzed against the running gateway in
tests/integration/gateway/test_gateway_openapi_fuzz.py; these are the fast checks of its shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from openapi_spec_validator import validate as validate_spec

from contracts.events import JobCompleted, RunProgressed, new_event
from services.gateway.app import create_app
from services.gateway.routes.stream import _sse
from services.kit.settings import Settings


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return create_app(Settings(home=Path("/nonexistent"))).openapi()


def test_the_document_is_valid_openapi_that_schemathesis_loads(doc: dict[str, Any]) -> None:
    validate_spec(doc)  # OpenAPI 3.1 with its JSON Schema dialect
    labels = {op.ok().label for op in schemathesis.openapi.from_dict(doc).get_all_operations()}
    assert {"GET /api/jobs/{job_id}/stream", "POST /api/jobs/draft", "POST /api/fetch"} <= labels


def _event_schema(doc: dict[str, Any]) -> dict[str, Any]:
    content = doc["paths"]["/api/jobs/{job_id}/stream"]["get"]["responses"]["200"]["content"]
    return dict(content["text/event-stream"]["schema"])


def _as_client_reads_it(message: Any) -> dict[str, Any]:
    """An SSE message's fields as an EventSource (and schemathesis) parses them."""
    text = message.encode().decode()
    fields: dict[str, Any] = {}
    for line in text.splitlines():
        if line and not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = (
                fields[name] + "\n" + value.removeprefix(" ") if name in fields else value.removeprefix(" ")
            )
    return fields


@pytest.mark.parametrize(
    "event",
    [
        new_event(RunProgressed, "job1", run_id="job1-1", round=3, rounds=15, prices={"m1": 0.6}),
        new_event(JobCompleted, "job1"),
    ],
)
def test_an_event_the_stream_sends_validates_against_the_declared_event(
    doc: dict[str, Any], event: Any
) -> None:
    """Before, the stream was declared as one `string`, so a checker rejected every event it sent."""
    schema = _event_schema(doc)
    message = _as_client_reads_it(_sse(12, event))
    jsonschema.Draft202012Validator(schema).validate(message)
    assert message["event"] == event.type and message["id"] == "12"
    data = schema["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    entry_schema = {**data["contentSchema"], "components": doc["components"]}
    jsonschema.Draft202012Validator(entry_schema).validate(json.loads(message["data"]))


def test_a_wrong_event_is_rejected_by_the_declared_event(doc: dict[str, Any]) -> None:
    """The schema is not a blank cheque: an unknown event type or a non-numeric id fails it."""
    schema = _event_schema(doc)
    good = _as_client_reads_it(_sse(12, new_event(JobCompleted, "job1")))
    for bad in (
        {**good, "event": "NoSuchEvent"},
        {**good, "id": "twelve"},
        {"event": "JobCompleted", "id": "1"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(bad)
    entry_schema = {**schema["properties"]["data"]["contentSchema"], "components": doc["components"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(entry_schema).validate({"seq": "x", "type": "JobCompleted"})


def test_errors_declare_their_headers_and_bodies_declare_invalid_json(doc: dict[str, Any]) -> None:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            if "429" in responses:
                assert responses["429"]["headers"]["Retry-After"]["required"] is True, (method, path)
            if "503" in responses:
                assert "Retry-After" in responses["503"]["headers"], (method, path)
            if "401" in responses:
                assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
            if "requestBody" in op:
                assert "400" in responses, (method, path)  # a body that is not JSON text
