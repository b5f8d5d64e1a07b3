"""Request bodies into JobSpecs: every bad input becomes a status, a code and a sentence naming the field."""

from __future__ import annotations

import json

import pytest

from contracts.spec import DEFAULT_TIERS, Tier
from services.gateway.spec_input import InputError, parse_job_spec, spec_fingerprint

GOOD = {"seed_text": "A seed.", "goal": "Will it happen?"}


def _err(body: object) -> InputError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(InputError) as info:
        parse_job_spec(raw, DEFAULT_TIERS)
    return info.value


def test_a_good_body_becomes_a_spec():
    spec = parse_job_spec(json.dumps({**GOOD, "tier": "medium"}).encode(), DEFAULT_TIERS)
    assert spec.tier is Tier.MEDIUM and spec.goal == GOOD["goal"]


@pytest.mark.parametrize(
    ("body", "status", "code", "detail"),
    [
        (
            {**GOOD, "seed_text": "x" * 50_001},
            422,
            "invalid_spec",
            "seed_text: is 50,001 characters; the limit is 50,000",
        ),
        (
            {**GOOD, "tier": "huge"},
            422,
            "invalid_spec",
            "tier: unknown tier 'huge'; expected one of small, medium, large",
        ),
        (
            {**GOOD, "policy": "magic"},
            422,
            "invalid_spec",
            "policy: unknown policy 'magic'; expected llm or heuristic",
        ),
        ({"goal": "Will it?"}, 422, "invalid_spec", "seed_text: is required"),
        ({**GOOD, "seed_text": 5}, 422, "invalid_spec", "seed_text: expected `str`, got `int`"),
        ({**GOOD, "colour": "red"}, 422, "invalid_spec", "colour: unknown field"),
        ({**GOOD, "forecast_days": 0}, 422, "invalid_spec", "forecast_days: expected `int` >= 1"),
        (
            {**GOOD, "markets": [{"question": 3}]},
            422,
            "invalid_spec",
            "markets[0].question: expected `str`, got `int`",
        ),
        ({**GOOD, "seed_text": "   "}, 422, "invalid_spec", "seed_text: must not be empty"),
        ([1, 2], 422, "invalid_spec", "body: expected `object`, got `array`"),
        (b"", 400, "invalid_json", "body: a JSON object with seed_text and goal is required"),
    ],
)
def test_bad_bodies_name_the_field(body, status, code, detail):
    err = _err(body)
    assert (err.status, err.code, err.detail) == (status, code, detail)


def test_malformed_json_is_400():
    err = _err(b"{nope")
    assert (
        err.status == 400 and err.code == "invalid_json" and err.detail.startswith("body: is not valid JSON")
    )


def test_oversized_body_is_413():
    assert _err(b" " * 1_000_001).status == 413


def test_a_tier_the_operator_removed_is_unknown():
    tiers = {Tier.SMALL: DEFAULT_TIERS[Tier.SMALL]}
    with pytest.raises(InputError) as info:
        parse_job_spec(json.dumps({**GOOD, "tier": "large"}).encode(), tiers)
    assert info.value.detail == "tier: unknown tier 'large'; expected one of small"


def test_fingerprint_ignores_key_order_and_spacing_but_not_content():
    a = parse_job_spec(b'{"seed_text": "s", "goal": "Will it happen?"}', DEFAULT_TIERS)
    b = parse_job_spec(b'{"goal":"Will it happen?","seed_text":"s","tier":"small"}', DEFAULT_TIERS)
    c = parse_job_spec(b'{"goal":"Will it happen?","seed_text":"t"}', DEFAULT_TIERS)
    assert spec_fingerprint(a) == spec_fingerprint(b) != spec_fingerprint(c)
