"""The heuristic policy (docs/engine.md §6): voice, agreement-driven votes, trades on belief vs price."""

from __future__ import annotations

import msgspec
import numpy as np

from engine.market import Market, MarketBook
from engine.policies.base import AgentPolicy, ClaimView, FeedPost, MarketView, Observation
from engine.policies.heuristic import HeuristicPolicy

Q = "Will the city council approve the new stadium by March?"


def _obs(position: float, price: float = 0.5, feed: list[FeedPost] | None = None) -> Observation:
    return Observation(
        agent_id="a",
        agent_name="A",
        persona="p",
        entity_name="A",
        traits={"activity": 0.5, "stubbornness": 0.5, "contrarianism": 0.0, "risk_appetite": 0.9},
        round=2,
        rounds=10,
        question=Q,
        position=position,
        confidence=0.5,
        cash=100.0,
        markets=[MarketView(market_id="m", question=Q, price_yes=price)],
        feed=feed or [],
    )


def test_is_an_agent_policy() -> None:
    assert isinstance(HeuristicPolicy(1), AgentPolicy)


CLAIMS = [
    ClaimView(
        claim_id="c1",
        text="Only 4 of the 13 council members support the plan",
        source="the seed",
        stance=-0.8,
        label="against",
    ),
    ClaimView(
        claim_id="c2",
        text="The mayor said the council will approve the plan",
        source="Mayor Holt",
        stance=0.6,
        label="for",
    ),
]


def test_posts_argue_a_claim_the_agent_knows_mostly_one_for_its_view() -> None:
    policy = HeuristicPolicy(1)
    for position in (-0.8, 0.8):
        obs = msgspec.structs.replace(_obs(position), claims=CLAIMS)
        picked = []
        for u in np.linspace(0, 0.99, 40):
            text, claim_id = policy.post_text(obs, position, float(u), float((u * 3) % 1), float(u))
            claim = next(c for c in CLAIMS if c.claim_id == claim_id)
            assert claim.text[:30] in text and f"{round(50 * (1 + position))}%" in text, text
            picked.append(claim.stance * position > 0)
        assert sum(picked) > len(picked) / 2
    texts = {
        policy.post_text(msgspec.structs.replace(_obs(p), claims=CLAIMS), p, float(u), float(v), float(w))[0]
        for p in (-0.7, -0.2, 0.3, 0.8)
        for u in (0.1, 0.5, 0.9)
        for v in (0.2, 0.6)
        for w in (0.3, 0.8)
    }
    assert len(texts) >= 40  # phrasing varies with persona, claim and draw


async def test_replies_answer_the_claim_of_the_post() -> None:
    """A NO agent replying to a YES post answers with a counter-claim it knows (c1), and the reply names it."""
    post = FeedPost(
        post_id="p1",
        author_id="b",
        author_name="B",
        round=1,
        stance=0.6,
        claim_id="c2",
        text="Per Mayor Holt: The mayor said the council will approve the plan. 80% yes.",
    )
    obs = msgspec.structs.replace(_obs(-0.8, feed=[post]), claims=CLAIMS)
    replies = [
        a for rnd in range(60) for a in (await HeuristicPolicy(3).decide(rnd, [obs]))[0] if a.type == "reply"
    ]
    assert replies
    for r in replies:
        assert r.args["post_id"] == "p1" and r.args["claim_id"] == "c1"
        assert "4 of the 13" in r.args["text"] and r.args["text"].startswith("@B")


async def test_decisions_are_deterministic_for_a_seed() -> None:
    feed = [
        FeedPost(post_id=f"p{i}", author_id=f"b{i}", author_name=f"B{i}", text=t, round=1)
        for i, t in enumerate(["Yes, very likely to pass.", "No way, it will fail.", "Torn on this."])
    ]
    obs = [_obs(0.6, 0.3, feed), _obs(-0.6, 0.7, feed)] * 5
    a = await HeuristicPolicy(5).decide(3, obs)
    b = await HeuristicPolicy(5).decide(3, obs)
    assert a == b
    assert a != await HeuristicPolicy(6).decide(3, obs)


async def test_trades_toward_its_belief_with_a_limit() -> None:
    """Limit orders at its belief (0.5 + 0.45·0.8 = 0.86): at the price the trader meets, only the
    side toward its belief fills, and never past it."""
    policy = HeuristicPolicy(2)
    for price, side in ((0.3, "yes"), (0.93, "no")):
        filled = []
        for rnd in range(20):
            book = MarketBook([Market("m", Q, price, 60.0)], 1)
            for act in (await policy.decide(rnd, [_obs(0.8, price)]))[0]:
                if act.type == "buy":
                    res = book.buy(
                        0,
                        act.args["market_id"],
                        act.args["outcome"],
                        act.args["amount"],
                        act.args["max_price"],
                    )
                    if res.ok:
                        filled.append(act.args["outcome"])
            after = book.markets[0].price("yes")
            assert (after <= 0.86 + 1e-9) if side == "yes" else (after >= 0.86 - 1e-9)
        assert filled and set(filled) == {side}
    sells = [
        a for rnd in range(20) for a in (await policy.decide(rnd, [_obs(-0.8, 0.3)]))[0] if a.type == "buy"
    ]
    assert sells and all(a.args["outcome"] == "no" for a in sells)
