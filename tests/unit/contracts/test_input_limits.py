"""Pure checks behind the gateway's input limits: text rules, tier caps, the local table, JSON depth."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from contracts.spec import (
    DEFAULT_TIERS,
    MAX_AGENTS,
    JobSpec,
    Tier,
    TierCapError,
    check_tier_caps,
    local_tiers,
)
from contracts.text import control_character_problem
from services.gateway.limits import MAX_JSON_DEPTH, body_limit, json_depth_exceeds
from services.kit.settings import load_settings, write_stack_file


@pytest.mark.parametrize(
    ("value", "multiline", "problem"),
    [
        ("plain text", False, None),
        (
            "tab\there",
            False,
            "contains the control character U+0009 at position 3; it must be one line of text",
        ),
        ("tab\there\r\n", True, None),
        (
            "bell\x07",
            True,
            "contains the control character U+0007 at position 4; "
            "only tab, newline and carriage return are allowed",
        ),
        (
            "c1 \x9b",
            True,
            "contains the control character U+009B at position 3; "
            "only tab, newline and carriage return are allowed",
        ),
        ("ümlaut and emoji 🎲", False, None),
    ],
)
def test_control_character_problem(value, multiline, problem):
    assert control_character_problem(value, multiline=multiline) == problem


def test_a_trailing_newline_does_not_slip_through_the_line_pattern():
    with pytest.raises(msgspec.ValidationError, match=r"\$\.goal"):
        msgspec.json.decode(b'{"seed_text": "s", "goal": "Will it happen?\\n"}', type=JobSpec)


def test_tier_caps_name_the_cap():
    spec = JobSpec(seed_text="s", goal="Will it happen?", agents=DEFAULT_TIERS[Tier.SMALL].max_agents + 1)
    with pytest.raises(TierCapError) as info:
        check_tier_caps(spec, DEFAULT_TIERS)
    assert info.value.field == "agents" and info.value.cap == "max_agents"
    check_tier_caps(spec, local_tiers())  # the local table is generous


def test_the_local_table_survives_the_stack_file(tmp_path: Path):
    write_stack_file(tmp_path, {"tiers": msgspec.to_builtins(local_tiers())})
    settings = load_settings(env={"SIMSWARM_HOME": str(tmp_path)})
    assert settings.tiers[Tier.SMALL].max_agents == MAX_AGENTS
    assert settings.tiers[Tier.SMALL].model == DEFAULT_TIERS[Tier.SMALL].model


def test_json_depth():
    assert not json_depth_exceeds(b'{"a": [{"b": [1, 2]}]}')
    assert json_depth_exceeds(b"[" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    # Brackets inside strings (with escaped quotes) do not count.
    assert not json_depth_exceeds(b'{"seed_text": "' + b'[\\"' * 1000 + b'"}')


def test_body_limits_by_route():
    assert body_limit("/api/jobs") == body_limit("/api/jobs/draft") > body_limit("/api/auth/login")
    assert body_limit("/api/jobsx") == body_limit("/api/keys")


def test_openapi_documents_the_limits():
    from services.gateway.app import create_app
    from services.kit.settings import Settings

    doc = create_app(Settings(home=Path("/nonexistent"))).openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "413" in op["responses"], (method, path)
            if "requestBody" in op:
                assert "422" in op["responses"], (method, path)
    schemas = doc["components"]["schemas"]
    spec, market = schemas["JobSpec"]["properties"], schemas["MarketSpec"]["properties"]
    assert spec["seed_text"]["maxLength"] == 50_000 and "pattern" in spec["seed_text"]
    assert spec["goal"]["maxLength"] == 1_000 and "pattern" in spec["goal"]
    assert market["rationale"]["maxLength"] == 2_000 and "pattern" in market["rationale"]
    seed = next(s for s in spec["random_seed"]["anyOf"] if s.get("type") == "integer")
    assert seed["minimum"] == 0 and seed["maximum"] == 2**63 - 1
    creds = schemas["Credentials"]["properties"]
    assert creds["email"]["maxLength"] == 320 and "pattern" in creds["email"]
    assert "/api/docs" not in doc["paths"]  # the UI and its assets are not API operations


def test_a_create_job_command_with_a_nul_byte_does_not_decode():
    """What the orchestrator decodes: a client that bypasses the gateway meets the same rule."""
    from contracts.commands import CreateJob

    raw = b'{"job_id": "j1", "owner_id": "u1", "spec": {"seed_text": "s", "goal": "Will it\\u0000 happen?"}}'
    with pytest.raises(msgspec.ValidationError, match=r"\$\.spec\.goal"):
        msgspec.json.decode(raw, type=CreateJob)


def test_every_free_string_of_every_request_body_is_bounded_and_patterned():
    """A new request field (drafts, helpers) must use the constrained types: this keeps it so."""
    from services.gateway.app import create_app
    from services.kit.settings import Settings

    doc = create_app(Settings(home=Path("/nonexistent"))).openapi()
    schemas = doc["components"]["schemas"]
    checked: list[str] = []

    def visit(schema: dict, where: str) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            visit(schemas[name], name)
            return
        for option in schema.get("anyOf", []):
            visit(option, where)
        if schema.get("type") == "array":
            visit(schema.get("items", {}), f"{where}[]")
        for prop, sub in schema.get("properties", {}).items():
            visit(sub, f"{where}.{prop}")
        if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
            assert "maxLength" in schema and "pattern" in schema, where
            checked.append(where)

    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for media in op.get("requestBody", {}).get("content", {}).values():
                visit(media["schema"], f"{method} {path}")
    assert {"JobSpec.seed_text", "MarketSpec.rationale", "Credentials.email", "KeyRequest.name"} <= set(
        checked
    )
