"""The heuristic policy (docs/engine.md §6): voice, agreement-driven votes, trades on belief vs price."""

from __future__ import annotations

import numpy as np

from engine.policies.base import AgentPolicy, FeedPost, MarketView, Observation
from engine.policies.heuristic import HeuristicPolicy
from engine.stance import StanceScorer

Q = "Will the city council approve the new stadium by March?"


def _obs(position: float, price: float = 0.5, feed: list[FeedPost] | None = None) -> Observation:
    return Observation(agent_id="a", agent_name="A", persona="p", entity_name="A",
                       traits={"activity": 0.5, "stubbornness": 0.5, "contrarianism": 0.0, "risk_appetite": 0.9},
                       round=2, rounds=10, question=Q, position=position, confidence=0.5, cash=100.0,
                       markets=[MarketView(market_id="m", question=Q, price_yes=price)], feed=feed or [])


def test_is_an_agent_policy() -> None:
    assert isinstance(HeuristicPolicy(1), AgentPolicy)


def test_posts_carry_the_stance_of_the_persona() -> None:
    policy, scorer = HeuristicPolicy(1), StanceScorer()
    for position in (-0.9, -0.4, 0.4, 0.9):
        for u in np.linspace(0, 0.99, 6):
            text = policy.post_text(_obs(position), position, float(u), 0.9)
            assert np.sign(scorer.score(text, Q)) == np.sign(position), text


async def test_decisions_are_deterministic_for_a_seed() -> None:
    feed = [FeedPost(post_id=f"p{i}", author_id=f"b{i}", author_name=f"B{i}", text=t, round=1)
            for i, t in enumerate(["Yes, very likely to pass.", "No way, it will fail.", "Torn on this."])]
    obs = [_obs(0.6, 0.3, feed), _obs(-0.6, 0.7, feed)] * 5
    a = await HeuristicPolicy(5).decide(3, obs)
    b = await HeuristicPolicy(5).decide(3, obs)
    assert a == b
    assert a != await HeuristicPolicy(6).decide(3, obs)


async def test_trades_toward_its_belief_with_a_limit() -> None:
    policy = HeuristicPolicy(2)
    buys = []
    for rnd in range(20):
        for act in (await policy.decide(rnd, [_obs(0.8, 0.3)]))[0]:
            if act.type == "buy":
                buys.append(act.args)
    assert buys and all(b["outcome"] == "yes" and 0.3 < b["max_price"] <= 0.9 for b in buys)
    sells = [a for rnd in range(20) for a in (await policy.decide(rnd, [_obs(-0.8, 0.3)]))[0] if a.type == "buy"]
    assert sells and all(a.args["outcome"] == "no" for a in sells)
