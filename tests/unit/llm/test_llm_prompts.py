"""Prompt layout: the shared prefix is byte-identical across agents, the agent part carries its state."""

from __future__ import annotations

import json

from engine.llm.client import ChatClient
from engine.llm.config import LLMConfig
from engine.llm.policy import LLMPolicy
from engine.llm.prompts import AGENT_MARKER, PromptBuilder, describe_position
from engine.policies.base import ActionResult, FeedPost, FeedReply, MarketView, Observation

CONFIG = LLMConfig(url="http://127.0.0.1:9/v1", model="m")


def _obs(
    agent: str, *, round_: int = 3, position: float = 0.5, cash: float = 100.0, yes: float = 0.0
) -> Observation:
    return Observation(
        agent_id=agent,
        agent_name=f"Name {agent}",
        persona=f"persona of {agent}",
        traits={"activity": 0.9, "stubbornness": 0.1},
        round=round_,
        rounds=10,
        question="Will the bill pass by June?",
        position=position,
        confidence=0.7,
        cash=cash,
        markets=[
            MarketView(
                market_id="will-the-bill-pass",
                question="Will the bill pass by June?",
                price_yes=0.42,
                yes_shares=yes,
            )
        ],
        feed=[
            FeedPost(
                post_id="p7",
                author_id="a9",
                author_name="Nine",
                text="It will pass.",
                round=2,
                likes=3,
                replies=[FeedReply(post_id="p8", author_id="a2", author_name="Two", text="No way.")],
            )
        ],
        last_results=[
            ActionResult(
                round=2,
                action="buy",
                args={"market_id": "will-the-bill-pass", "amount": 500},
                success=False,
                error="not enough cash",
            )
        ],
        forecast_days=30,
    )


def _builder() -> PromptBuilder:
    return PromptBuilder(CONFIG, "Seed text about the Senate.", "Will the bill pass by June?", 30)


def test_shared_prefix_is_byte_identical_across_agents() -> None:
    b = _builder()
    m1 = b.messages(_obs("a1", position=0.9, cash=10.0, yes=3.0))
    m2 = b.messages(_obs("a2", position=-0.9, cash=999.0))
    assert m1[0] == m2[0]  # the system prompt
    head1, _, tail1 = m1[1]["content"].partition(AGENT_MARKER)
    head2, _, tail2 = m2[1]["content"].partition(AGENT_MARKER)
    assert head1 == head2 and head1.startswith("# Round 3 of 10")
    assert tail1 != tail2


def test_system_prompt_and_tools_are_stable_across_rounds() -> None:
    b = _builder()
    policy = LLMPolicy(ChatClient(CONFIG), b)
    r3 = policy.request_body(_obs("a1", round_=3))
    r9 = policy.request_body(_obs("a7", round_=9))
    assert r3["messages"][0]["content"] == r9["messages"][0]["content"]
    assert json.dumps(r3["tools"]) == json.dumps(r9["tools"])
    assert r3["chat_template_kwargs"] == {"enable_thinking": False}
    assert "will-the-bill-pass" in r3["messages"][0]["content"]


def test_agent_part_shows_beliefs_results_cash_holdings_and_feed() -> None:
    text = _builder().messages(_obs("a1", position=0.5, cash=12.5, yes=4.0))[1]["content"]
    assert "agent_id=a1" in text and "persona of a1" in text
    assert describe_position(0.5) in text
    assert "Cash: 12.50" in text and "4.00 YES" in text
    assert "FAILED: not enough cash" in text
    assert "post_id=p7 author_id=a9" in text and "post_id=p8" in text


def test_seed_is_cut_in_the_system_prompt() -> None:
    b = PromptBuilder(LLMConfig(url="u", model="m", seed_chars=50), "x" * 10_000, "Will it rain?", 30)
    assert len(b.system_prompt([])) < 3000
