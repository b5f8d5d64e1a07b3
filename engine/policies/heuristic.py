"""The rule-based baseline policy (docs/engine.md §6): stochastic, plausible, deterministic for a seed.

Each active agent posts one of the seed claims it knows in its persona's voice (engine/policies/
voice.py), mostly ones that support its view, with its own probability; votes by agreement with the
stance of what it reads (the claims the posts argue); replies to posts it strongly agrees or
disagrees with by answering their claim with a supporting or a counter-claim; reposts the ones it
likes most, follows like-minded authors, and trades when its belief differs from a market's price.
Random draws come from a generator seeded by (random_seed, round), so a resumed run decides
exactly as an uninterrupted one.
"""

from __future__ import annotations

import msgspec
import numpy as np

from engine.policies import voice
from engine.policies.base import Action, ClaimView, FeedPost, Observation
from engine.stance import StanceScorer

_CROSS = 0.03  # how far past its belief the seen price may be for the far-side order still to be sent
_MARKET_NOTES = (
    "The price on {market} looks off to me.",
    "Trading {market} on my read of the evidence.",
    "{market} is mispriced; I am putting money behind my view.",
)


class HeuristicPolicy:
    """Template and rule driven agents; no model needed."""

    name = "heuristic"

    def __init__(self, random_seed: int, scorer: StanceScorer | None = None) -> None:
        self.seed = random_seed
        self.scorer = scorer or StanceScorer()
        self._corr: dict[tuple[str, str], float] = {}

    def post_text(
        self, obs: Observation, position: float, u1: float, u2: float, u3: float = 0.5
    ) -> tuple[str, str]:
        """(text, claim_id) of a post in the agent's voice arguing one of the claims it knows."""
        view = obs if position == obs.position else msgspec.structs.replace(obs, position=position)
        claim = voice.choose_claim(obs.claims, position, u3)
        return voice.post(view, claim, u1, u2, (u1 * 7.0 + u3) % 1.0), claim.claim_id if claim else ""

    def market_direction(self, question: str, market_question: str, first: bool) -> float:
        """+1 when YES on the market goes with YES on the question, -1 when against."""
        if first:
            return 1.0
        key = (question, market_question)
        if key not in self._corr:
            self._corr[key] = 0.7 if self.scorer.score(market_question, question) >= -0.1 else -0.7
        return self._corr[key]

    async def decide(self, round: int, observations: list[Observation]) -> list[list[Action]]:
        rng = np.random.default_rng([self.seed, round, 23])
        draws = rng.random((len(observations), 32))
        return [self.decide_one(obs, draws[i]) for i, obs in enumerate(observations)]

    def decide_one(self, obs: Observation, u: np.ndarray) -> list[Action]:
        """The actions of one agent given 32 uniform draws."""
        t = obs.traits
        stub, contra, risk = (
            t.get("stubbornness", 0.5),
            t.get("contrarianism", 0.1),
            t.get("risk_appetite", 0.5),
        )
        pos, conf = obs.position, obs.confidence
        acts: list[Action] = []
        if u[0] < (0.7 if not obs.feed else 0.25 + 0.3 * conf):
            text, claim_id = self.post_text(obs, pos, u[1], u[2], u[11])
            acts.append(
                Action(
                    type="create_post",
                    args={"text": text, "claim_id": claim_id} if claim_id else {"text": text},
                )
            )
        scored = []
        for post in obs.feed[:8]:
            if post.author_id == obs.agent_id:
                continue
            scored.append(
                (1.0 - abs(post.stance - pos) / 2.0, post)
            )  # the post's stance comes from its claim
        votes = 0
        for k, (agreement, post) in enumerate(scored):
            if votes >= 3 or post.my_vote:
                continue
            draw = u[3 + k]
            if agreement > 0.8 and draw < 0.55:
                value = -1 if draw < 0.55 * contra * 0.3 else 1
            elif agreement < 0.5 and draw < 0.2 + 0.3 * stub:
                value = 1 if draw < 0.05 * contra else -1
            else:
                continue
            acts.append(Action(type="vote", args={"post_id": post.post_id, "value": value}))
            votes += 1
        if scored:
            agreement, post = max(scored, key=lambda x: (abs(x[0] - 0.75), x[1].post_id))
            if u[12] < 0.18:
                acts.append(self._reply(obs, post, agreement > 0.75, u[13], u[14], u[17]))
            best_agreement, best = max(scored, key=lambda x: (x[0], x[1].likes, x[1].post_id))
            if best_agreement > 0.8 and u[15] < 0.12:
                acts.append(Action(type="repost", args={"post_id": best.post_id}))
            following = set(obs.following)
            candidates = [(a, p) for a, p in scored if a > 0.75 and p.author_id not in following]
            if candidates and u[16] < 0.3:
                acts.append(
                    Action(
                        type="follow",
                        args={"agent_id": max(candidates, key=lambda x: (x[0], x[1].post_id))[1].author_id},
                    )
                )
        acts.extend(self._trades(obs, u, pos, risk))
        return acts or [Action(type="do_nothing")]

    def _trades(self, obs: Observation, u: np.ndarray, pos: float, risk: float) -> list[Action]:
        """Two standing limit orders per market the agent trades, one on each side of its belief.

        Traders act one after another (in a random order), so the price an agent meets is not the
        price it saw: whichever order is on the right side of the price at its turn fills, sized by
        the gap between its belief and that price (the limit) and by its budget; the other does not
        fill. Held shares of the other side are sold first. A side is left out when the price it saw
        is more than `_CROSS` beyond the belief on the other side (a round moves it less than that).
        """
        acts: list[Action] = []
        cash = obs.cash
        margin = 0.01 + 0.03 * (1.0 - risk)
        for k, m in enumerate(obs.markets[:6]):
            if u[18 + k] > 0.2 + 0.5 * risk:
                continue
            belief = (
                m.belief_yes
                if m.belief_yes is not None
                else 0.5 + 0.45 * pos * self.market_direction(obs.question, m.question, k == 0)
            )
            if abs(belief - m.price_yes) < margin:
                continue  # too close to its belief to bother
            up = round(min(0.99, max(0.01, belief - margin)), 4)  # YES price to buy up to
            down = round(min(0.99, max(0.01, belief + margin)), 4)  # YES price to sell down to
            budget = round(float(cash * risk * 0.02), 4)
            spent = False
            for want, held, limit in (("yes", m.no_shares, up), ("no", m.yes_shares, down)):
                if (m.price_yes > limit + _CROSS) if want == "yes" else (m.price_yes < limit - _CROSS):
                    continue  # the price would have to cross the belief this round for it to fill
                other = "no" if want == "yes" else "yes"
                if held > 1e-6:
                    floor = round(1.0 - limit if other == "no" else limit, 4)
                    acts.append(
                        Action(
                            type="sell",
                            args={
                                "market_id": m.market_id,
                                "outcome": other,
                                "shares": round(float(held * (0.5 + 0.5 * u[24 + k])), 6),
                                "min_price": floor,
                            },
                        )
                    )
                elif budget >= 0.1:
                    cap = round(limit if want == "yes" else 1.0 - limit, 4)
                    acts.append(
                        Action(
                            type="buy",
                            args={
                                "market_id": m.market_id,
                                "outcome": want,
                                "amount": budget,
                                "max_price": cap,
                            },
                        )
                    )
                    spent = True
            if spent:
                cash -= budget  # at most one of the two buys fills
            if u[30] < 0.08 and acts:
                note = _MARKET_NOTES[int(u[31] * 3) % 3].format(market=m.market_id)
                acts.append(Action(type="comment_on_market", args={"market_id": m.market_id, "text": note}))
        return acts

    def _reply(
        self, obs: Observation, post: FeedPost, agree: bool, u1: float, u2: float, u3: float
    ) -> Action:
        """A reply that answers the claim of `post`: a supporting claim when agreeing, a counter-claim
        (one the agent knows, pointing the other way) when not."""
        known = {c.claim_id: c for c in obs.claims}
        their: ClaimView | None = known.get(post.claim_id) if post.claim_id else None
        if their is None and post.claim_id:
            their = ClaimView(
                claim_id=post.claim_id, text=post.text, source=post.author_name, stance=post.stance
            )
        if agree:
            others = [c for c in obs.claims if c.claim_id != post.claim_id]
            mine = voice.choose_claim(others, post.stance or obs.position, u2) if u2 < 0.6 else None
            if mine is not None and mine.stance * (post.stance or obs.position) < 0:
                mine = None
        else:
            mine = voice.choose_claim(obs.claims, obs.position, u2, against=post.stance or -obs.position)
        text = voice.reply(obs, post, their, mine, agree, u1, u3)
        claim_id = mine.claim_id if mine is not None else (post.claim_id if agree else "")
        args: dict[str, object] = {"post_id": post.post_id, "text": text}
        if claim_id:
            args["claim_id"] = claim_id
        return Action(type="reply", args=args)

    async def aclose(self) -> None:
        return None
