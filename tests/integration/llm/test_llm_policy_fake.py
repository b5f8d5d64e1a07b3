"""The LLM policy and extraction over real HTTP against the fake OpenAI-compatible server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from contracts.worker import RunSpec
from engine.llm import LLMConfig, LLMUnavailable, build_llm_components
from engine.llm.client import ChatClient, LLMCallFailed
from engine.llm.tools import INVALID, LLM_ERROR
from engine.policies.base import ACTION_TYPES, FeedPost, MarketView, Observation
from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer

pytestmark = pytest.mark.integration

SEED = (
    "The European Commission proposed the AI Act in Brussels. Commissioner Thierry Breton pushed for "
    "strict rules, while Mistral AI and Aleph Alpha lobbied for exemptions for open models."
)
GOAL = "Will the AI Act's rules for general-purpose models apply before August 2026?"


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehaviour(latency_ms=(1.0, 5.0))) as server:
        yield server


def components(fake: FakeOpenAIServer, **config: object):  # type: ignore[no-untyped-def]
    cfg = LLMConfig(url=fake.url, model="", timeout_s=5, backoff_s=0.01, backoff_max_s=0.05)
    for key, value in config.items():
        setattr(cfg, key, value)
    spec = RunSpec(seed_text=SEED, goal=GOAL, policy="llm", llm_url=fake.url, agents=30, rounds=3)
    return build_llm_components(spec, cfg)


def observations(n: int, round_: int = 1) -> list[Observation]:
    feed = [
        FeedPost(
            post_id=f"p{i}",
            author_id=f"a{i + 100}",
            author_name=f"Author {i}",
            text=f"Opinion number {i}",
            round=0,
        )
        for i in range(4)
    ]
    return [
        Observation(
            agent_id=f"a{i}",
            agent_name=f"Agent {i}",
            persona="A Brussels policy wonk.",
            traits={"activity": 0.5},
            round=round_,
            rounds=3,
            question=GOAL,
            position=0.2,
            confidence=0.5,
            cash=100.0,
            markets=[MarketView(market_id="ai-act-applies", question=GOAL, price_yes=0.5)],
            feed=feed,
        )
        for i in range(n)
    ]


async def test_every_agent_gets_valid_actions_from_the_prompt(fake: FakeOpenAIServer) -> None:
    comps = components(fake)
    try:
        decided = await comps.policy.decide(1, observations(30))
    finally:
        await comps.aclose()
    assert len(decided) == 30 and all(1 <= len(a) <= 3 for a in decided)
    for actions in decided:
        for action in actions:
            assert action.type in ACTION_TYPES
            if "post_id" in action.args:
                assert action.args["post_id"] in {"p0", "p1", "p2", "p3"}
            if "market_id" in action.args:
                assert action.args["market_id"] == "ai-act-applies"
    counters = comps.counters()
    assert counters["llm_calls"] == 30 and counters["llm_errors"] == 0
    assert counters["llm_prompt_tokens"] > 0 and counters["llm_cached_prompt_tokens"] > 0
    assert counters["llm_latency_p95_ms"] >= counters["llm_latency_p50_ms"] > 0
    assert fake.stats()["distinct_system_prompts"] == 1  # one shared prefix for everyone


async def test_garbage_and_refusals_become_recorded_actions(fake: FakeOpenAIServer) -> None:
    comps = components(fake)
    fake.configure(garbage_rate=1.0)
    decided = await comps.policy.decide(1, observations(10))
    assert all(a.type == INVALID or a.type not in ACTION_TYPES for acts in decided for a in acts)
    fake.configure(garbage_rate=0.0, no_tools_rate=1.0)
    decided = await comps.policy.decide(2, observations(10, 2))
    assert all([a.type for a in acts] == ["do_nothing"] for acts in decided)
    counters = comps.counters()
    await comps.aclose()
    assert counters["llm_malformed_calls"] == 10 and counters["llm_refusals"] == 10


async def test_transient_errors_are_retried(fake: FakeOpenAIServer) -> None:
    comps = components(fake, max_retries=8)
    fake.configure(error_rate=0.4, error_codes=[500, 429, 503])
    decided = await comps.policy.decide(1, observations(20))
    counters = comps.counters()
    await comps.aclose()
    assert all(a.type != LLM_ERROR for acts in decided for a in acts)
    assert counters["llm_retries"] > 0 and counters["llm_errors"] == 0


@pytest.mark.parametrize("retries", [0, 2])
async def test_a_call_makes_one_attempt_plus_its_retries_then_says_why(
    fake: FakeOpenAIServer, retries: int
) -> None:
    cfg = LLMConfig(url=fake.url, model="m", max_retries=retries, backoff_s=0.01, backoff_max_s=0.02)
    client = ChatClient(cfg)
    fake.configure(error_rate=1.0, error_codes=[503])
    with pytest.raises(LLMCallFailed, match=rf"HTTP 503 \(after {retries + 1} attempts\)"):
        await client.complete({"messages": [{"role": "user", "content": "hi"}]})
    assert (client.counters.requests, client.counters.retries, client.counters.errors) == (
        retries + 1,
        retries,
        1,
    )
    fake.configure(error_rate=0.0)  # a call that succeeds makes one request
    message, _ = await client.complete({"messages": [{"role": "user", "content": "hi"}]})
    assert message and client.counters.requests == retries + 2 and client.counters.retries == retries
    await client.aclose()


async def test_a_hung_endpoint_times_out_then_fails_the_run_with_a_reason(fake: FakeOpenAIServer) -> None:
    comps = components(fake, timeout_s=0.3, max_retries=1, max_failed_rounds=2)
    fake.configure(hang_rate=1.0, hang_s=30)
    started = time.monotonic()
    first = await comps.policy.decide(1, observations(5))
    assert all(acts[0].type == LLM_ERROR and "timed out" in acts[0].args["error"] for acts in first)
    with pytest.raises(LLMUnavailable, match="failed every call for 2 rounds"):
        await comps.policy.decide(2, observations(5, 2))
    assert time.monotonic() - started < 10
    assert comps.counters()["llm_timeouts"] == 20
    await comps.aclose()


async def test_entities_and_markets_from_the_model(fake: FakeOpenAIServer) -> None:
    comps = components(fake)
    entities = await comps.extract_entities(SEED, GOAL)
    markets = await comps.derive_markets(SEED, GOAL, 3)
    await comps.aclose()
    assert entities and {"name", "type", "summary", "stance"} <= set(entities[0])
    assert any("Thierry Breton" in e["name"] for e in entities)
    assert all(-1 <= e["stance"] <= 1 for e in entities)
    assert markets and len(markets) <= 3 and all(0.05 <= m.initial_price_yes <= 0.95 for m in markets)


async def test_invalid_json_gets_one_repair_then_the_fallback(fake: FakeOpenAIServer) -> None:
    comps = components(fake)
    fake.configure(garbage_rate=1.0)
    before = fake.stats()["requests"]
    assert await comps.extract_entities(SEED, GOAL) is None
    assert fake.stats()["requests"] - before == 2  # the ask and one repair
    fake.configure(error_rate=1.0, garbage_rate=0.0, error_codes=[400])
    assert await comps.derive_markets(SEED, GOAL, 3) is None  # an unusable endpoint: fallback, no raise
    await comps.aclose()
