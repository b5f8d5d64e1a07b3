"""Single requests that used to hurt the platform (issue 9), replayed against the real gateway.

Each test sends what an attacker or a careless client sent, on the real NATS, Postgres and
SeaweedFS, and checks the gateway refuses it with a `{"detail","code"}` naming the field, and that
nothing reached the orchestrator.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from contracts.spec import (
    GOAL_MAX_CHARS,
    RANDOM_SEED_MAX,
    RATIONALE_MAX_CHARS,
    SEED_MAX_CHARS,
    SPEC_MAX_CHARS,
    load_tiers,
)
from contracts.subjects import CMD_CREATE_JOB
from services.gateway.routes.jobs import IDEMPOTENCY_NS
from services.gateway.spec_input import parse_job_spec, spec_fingerprint

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "seed_text": "The central bank meets on Thursday.",
    "goal": "Will the bank cut rates?",
    "tier": "small",
    "policy": "heuristic",
}
MARKET = {"question": "Will inflation fall below 2%?", "initial_price_yes": 0.4, "rationale": "the target"}


async def _create(gw: Any, body: dict[str, Any], key: str | None = None, **headers: str) -> Any:
    return await gw.client.post("/api/jobs", json=body, headers={**gw.auth(key or gw.alice_key), **headers})


def _assert_refused(r: Any, status: int, code: str, field: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert body["detail"].startswith(f"{field}:"), body


# -- 1a: control characters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("goal", {**SPEC, "goal": "Will the bank\u0000 cut rates?"}),
        ("goal", {**SPEC, "goal": "Will the bank cut\nrates?"}),  # a short text is one line
        ("seed_text", {**SPEC, "seed_text": "A seed \u0000 with NUL."}),
        ("seed_text", {**SPEC, "seed_text": "A seed \u001b[31m in red."}),
        ("seed_text", {**SPEC, "seed_text": "A seed \u009b with a C1 CSI."}),
        ("markets[0].question", {**SPEC, "markets": [{**MARKET, "question": "Will it\u0000 happen?"}]}),
        (
            "markets[1].rationale",
            {**SPEC, "markets": [MARKET, {**MARKET, "question": "Other?", "rationale": "x\u0007"}]},
        ),
    ],
)
async def test_control_characters_in_a_spec_are_refused(gw, field, body):
    r = await _create(gw, body)
    _assert_refused(r, 422, "invalid_spec", field)
    assert "control character" in r.json()["detail"]
    assert gw.commands == []  # nothing reached the orchestrator


async def test_tabs_and_newlines_are_fine_in_long_texts(gw):
    body = {
        **SPEC,
        "seed_text": "Line one.\r\n\tLine two.\n",
        "markets": [{**MARKET, "rationale": "because\n\tof the target"}],
    }
    r = await _create(gw, body)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/api/auth/register", {"email": "eve\u0000@example.com", "password": "long enough pw"}, "email"),
        ("/api/auth/register", {"email": "\u001b[2Jeve@example.com", "password": "long enough pw"}, "email"),
        ("/api/auth/register", {"email": "eve@example.com", "password": "long enough\u0000pw"}, "password"),
        ("/api/auth/login", {"email": "eve\u0000@example.com", "password": "long enough pw"}, "email"),
        ("/api/keys", {"name": "ci\u0000key"}, "name"),
        ("/api/keys", {"name": "ci\u001b]0;pwned\u0007"}, "name"),
    ],
)
async def test_control_characters_in_accounts_and_keys_are_refused(gw, route, body, field):
    r = await gw.client.post(route, json=body, headers=gw.as_alice)
    _assert_refused(r, 422, "invalid_request", field)
    assert "control character" in r.json()["detail"]


# -- 2: every string has a maximum, and so has the whole spec --------------------------------------


async def test_three_markets_with_huge_rationales_are_refused(gw):
    markets = [
        {**MARKET, "question": f"Will event {i} happen?", "rationale": "r" * 150_000} for i in range(3)
    ]
    r = await _create(gw, {**SPEC, "markets": markets})
    _assert_refused(r, 422, "invalid_spec", "markets[0].rationale")
    assert (
        r.json()["detail"]
        == f"markets[0].rationale: is 150,000 characters; the limit is {RATIONALE_MAX_CHARS:,}"
    )
    assert gw.commands == []


async def test_long_goal_and_spec_total_are_bounded(gw):
    r = await _create(gw, {**SPEC, "goal": "Will it? " * GOAL_MAX_CHARS})
    _assert_refused(r, 422, "invalid_spec", "goal")
    # Every field within its own limit, but together over the spec's total.
    markets = [
        {**MARKET, "question": f"Will event {i} happen?", "rationale": "r" * RATIONALE_MAX_CHARS}
        for i in range(5)
    ]
    body = {**SPEC, "tier": "large", "seed_text": "s" * SEED_MAX_CHARS, "markets": markets}
    r = await _create(gw, body)
    _assert_refused(r, 422, "invalid_spec", "spec")
    assert f"{SPEC_MAX_CHARS:,}" in r.json()["detail"]


# -- 3: tier caps, random_seed, the LLM policy ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "cap"),
    [
        ({"agents": 100_000}, "max_agents"),
        ({"rounds": 10_000}, "max_rounds"),
        ({"forecast_days": 365}, "max_forecast_days"),
    ],
)
async def test_tier_caps_from_the_routing_table_are_enforced(gw, change, cap):
    field = next(iter(change))
    r = await _create(gw, {**SPEC, **change})
    _assert_refused(r, 422, "tier_cap_exceeded", field)
    assert cap in r.json()["detail"] and "small" in r.json()["detail"]
    assert gw.commands == []


async def test_an_operator_table_sets_the_caps(gw):
    small = {
        "model": "m",
        "gpu_types": ["g"],
        "agents": 5,
        "rounds": 5,
        "timeout_s": 60,
        "max_markets": 1,
        "max_agents": 8,
        "max_rounds": 9,
        "max_forecast_days": 10,
    }
    gw.app.state.ctx.settings.tiers = load_tiers(json.dumps({"small": small}).encode())
    _assert_refused(await _create(gw, {**SPEC, "agents": 9}), 422, "tier_cap_exceeded", "agents")
    _assert_refused(
        await _create(gw, {**SPEC, "markets": [MARKET, {**MARKET, "question": "Two?"}]}),
        422,
        "tier_cap_exceeded",
        "markets",
    )
    assert (await _create(gw, {**SPEC, "agents": 8, "rounds": 9, "forecast_days": 10})).status_code == 201


async def test_the_local_table_keeps_generous_limits(gw):
    from contracts.spec import local_tiers

    gw.app.state.ctx.settings.tiers = local_tiers()
    r = await _create(gw, {**SPEC, "agents": 5_000, "rounds": 2_000, "forecast_days": 365})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("seed", [-1, RANDOM_SEED_MAX + 1, 10**30])
async def test_random_seed_out_of_range_is_refused(gw, seed):
    _assert_refused(await _create(gw, {**SPEC, "random_seed": seed}), 422, "invalid_spec", "random_seed")


async def test_random_seed_at_the_bounds_is_fine(gw):
    assert (await _create(gw, {**SPEC, "random_seed": 0})).status_code == 201
    assert (
        await _create(gw, {**SPEC, "random_seed": RANDOM_SEED_MAX, "goal": "Will it rain?"})
    ).status_code == 201


async def test_llm_policy_without_a_model_server_is_refused(gw):
    settings = gw.app.state.ctx.settings
    assert settings.llm_url is None and settings.pod_provider == "local"
    _assert_refused(await _create(gw, {**SPEC, "policy": "llm"}), 422, "llm_unavailable", "policy")
    # The tier's default policy is the LLM one: leaving it out is the same request.
    no_policy = {k: v for k, v in SPEC.items() if k != "policy"}
    _assert_refused(await _create(gw, no_policy), 422, "llm_unavailable", "policy")
    assert gw.commands == []
    settings.llm_url = "http://127.0.0.1:9/v1"
    assert (await _create(gw, {**SPEC, "policy": "llm"})).status_code == 201


# -- 9: idempotency ------------------------------------------------------------------------------


async def test_reusing_the_key_of_a_deleted_job_is_a_clear_conflict(gw):
    first = await _create(gw, SPEC, **{"Idempotency-Key": "k-deleted"})
    assert first.status_code == 201
    job_id = first.json()["job_id"]
    assert (await gw.client.delete(f"/api/jobs/{job_id}", headers=gw.as_alice)).status_code == 204
    r = await _create(gw, SPEC, **{"Idempotency-Key": "k-deleted"})
    _assert_refused(r, 409, "idempotency_key_used", "Idempotency-Key")
    assert job_id in r.json()["detail"]


async def test_concurrent_retries_with_one_key_all_get_the_same_job(gw):
    rs = await asyncio.gather(*[_create(gw, SPEC, **{"Idempotency-Key": "k-concurrent"}) for _ in range(5)])
    assert [r.status_code for r in rs] == [201] * 5, [r.text for r in rs]
    assert len({r.json()["job_id"] for r in rs}) == 1
    assert len([c for c in gw.commands if type(c).__name__ == "CreateJob"]) == 1
    again = await _create(gw, SPEC, **{"Idempotency-Key": "k-concurrent"})
    assert again.status_code == 201 and again.json()["job_id"] == rs[0].json()["job_id"]


# -- 10: resume points beyond the stream ---------------------------------------------------------


async def test_resume_points_beyond_the_stream_are_422(gw):
    job_id = await gw.put_job(status="completed")
    for value in (str(10**30), str(2**63), "-1"):
        r = await gw.client.get(f"/api/jobs/{job_id}/events?after_seq={value}", headers=gw.as_alice)
        _assert_refused(r, 422, r.json().get("code", ""), "after_seq")
        r = await gw.client.get(f"/api/jobs/{job_id}/stream?after_seq={value}", headers=gw.as_alice)
        _assert_refused(r, 422, r.json().get("code", ""), "after_seq")
        r = await gw.client.get(f"/api/jobs/{job_id}/stream", headers={**gw.as_alice, "Last-Event-ID": value})
        _assert_refused(r, 422, "invalid_last_event_id", "Last-Event-ID")
    # In range for a 64-bit sequence, but past the end of the event log.
    beyond = str(2**40)
    r = await gw.client.get(f"/api/jobs/{job_id}/events?after_seq={beyond}", headers=gw.as_alice)
    _assert_refused(r, 422, "after_seq_beyond_stream", "after_seq")
    r = await gw.client.get(f"/api/jobs/{job_id}/stream", headers={**gw.as_alice, "Last-Event-ID": beyond})
    _assert_refused(r, 422, "invalid_last_event_id", "Last-Event-ID")
    # The end of the stream itself is a valid resume point: nothing newer.
    r = await gw.client.get(f"/api/jobs/{job_id}/events?after_seq=0", headers=gw.as_alice)
    assert r.status_code == 200


async def test_a_key_id_with_a_nul_byte_is_simply_not_found(gw):
    r = await gw.client.delete("/api/keys/ab%00cd", headers=gw.as_alice)
    assert r.status_code == 404 and r.json()["code"] == "key_not_found", r.text


async def test_a_retry_waits_for_the_first_request_and_then_tries_itself(gw_no_orchestrator):
    gw = gw_no_orchestrator
    ctx = gw.app.state.ctx
    ctx.command_timeout_s = 2.0
    asked: list[str] = []

    async def silent(msg: Any) -> None:  # an orchestrator that takes each command and never answers
        asked.append(json.loads(msg.data)["job_id"])

    sub = await gw.bus.nc.subscribe(CMD_CREATE_JOB, cb=silent)
    try:
        first = asyncio.create_task(_create(gw, SPEC, **{"Idempotency-Key": "k-silent"}))
        # Send the retry once the first request is in flight (reserved, waiting for the orchestrator).
        while not await gw.pool.fetchval(
            f"SELECT 1 FROM {ctx.jobs.g}.job_requests WHERE owner_id = $1", gw.alice
        ):
            assert not first.done(), first.result().text
            await asyncio.sleep(0.02)
        retry = await _create(gw, SPEC, **{"Idempotency-Key": "k-silent"})
        first_answer = await first
    finally:
        await sub.unsubscribe()
    # The retry waited for the first request's answer (none came), then asked again itself.
    for r in (first_answer, retry):
        assert (r.status_code, r.json()["code"]) == (503, "orchestrator_unavailable"), r.text
    assert len(asked) == 2 and len(set(asked)) == 1  # the same job id both times: never a second job


async def test_a_reservation_left_by_a_dead_gateway_does_not_block_the_key(gw):
    """A gateway that died between reserving a key and hearing back leaves a reservation behind."""
    ctx = gw.app.state.ctx
    ctx.command_timeout_s = 0.5  # how long a retry waits for the (dead) first request
    body = json.dumps(SPEC).encode()
    job_id = uuid.uuid5(IDEMPOTENCY_NS, f"{gw.alice}:k-orphan").hex
    fingerprint = spec_fingerprint(parse_job_spec(body, ctx.settings.tiers))
    await gw.pool.execute(
        f"INSERT INTO {ctx.jobs.g}.job_requests (job_id, owner_id, fingerprint) VALUES ($1, $2, $3)",
        job_id,
        gw.alice,
        fingerprint,
    )
    r = await _create(gw, SPEC, **{"Idempotency-Key": "k-orphan"})
    assert r.status_code == 201 and r.json()["job_id"] == job_id, r.text
    assert [c.job_id for c in gw.commands] == [job_id]
