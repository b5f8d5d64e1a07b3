"""The world: agents' beliefs, the social platform and the markets, advanced round by round.

A round (docs/engine.md §2, step 4): sample the active agents (activity-weighted), show each the world as of
the start of the round (`observe`), apply their actions one agent after another in a random order
drawn from (seed, round) (engine/actions.py), then update beliefs from what each agent read and
record the round (`end_round`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from contracts.artifacts import CurvePoint, EngagementRound
from engine.beliefs import (
    TrustStore,
    mark_seen,
    novelty,
    social_proof,
    to_logodds,
    to_position,
    update_beliefs,
    update_confidence,
    update_trust,
)
from engine.coherence import belief_from_position, link_markets, market_belief, nested_pairs
from engine.entities import Entity
from engine.feed import prominence_prior, rank_feeds
from engine.knowledge import arrivals, claim_arrays, initial_knowledge
from engine.market import Market, MarketBook
from engine.personas import Population
from engine.policies.base import (
    ActionResult,
    ClaimView,
    FeedPost,
    FeedReply,
    MarketView,
    Observation,
    ViralEvent,
)
from engine.proposition import parse_proposition
from engine.reading import SeedReading
from engine.recorder import INTERACTIONS, Recorder, numpy_hook
from engine.social import Platform, virality_threshold
from engine.stance import StanceScorer

EVENT_ROUNDS = 3


@dataclass
class RoundView:
    """What the active agents of one round saw: the input of the belief update."""

    active: np.ndarray
    read_reader: np.ndarray
    read_post: np.ndarray
    read_sp: np.ndarray  # social proof of each read post at the start of the round


class World:
    """The whole mutable state of a run (checkpointed by engine/checkpoint.py)."""

    def __init__(
        self,
        *,
        question: str,
        rounds: int,
        seed: int,
        forecast_days: int,
        entities: list[Entity],
        population: Population,
        markets: list[Market],
        market_corr: list[float],
        scorer: StanceScorer | None = None,
        reading: SeedReading | None = None,
    ) -> None:
        n = population.n
        self.question, self.rounds, self.seed, self.forecast_days = question, rounds, seed, forecast_days
        self.entities = entities
        self.pop = population
        self._init_claims(reading, question, entities, population, seed)
        self.position = population.initial_position.copy()
        self.confidence = population.initial_confidence.copy()
        self.platform = Platform(n)
        self.book = MarketBook(markets, n)
        self.trust = TrustStore(n)
        self.market_corr = np.asarray(market_corr, dtype=float)
        self.last_read = np.full(n, -1, dtype=np.int64)
        self.last_results: dict[int, list[ActionResult]] = {}
        self.viral_log: list[list[int]] = []  # [post, round]
        self.round = 0
        self.recorder = Recorder(n, len(entities), [m.market_id for m in markets])
        for m in markets:
            self.recorder.curves[m.market_id].append(
                CurvePoint(round=0, price_yes=m.price("yes"), volume=0.0)
            )
        self.scorer = scorer or StanceScorer()
        self.viral_threshold = virality_threshold(n)
        # How each market relates to the question (derived from the questions, so not checkpointed).
        self.market_links = link_markets(
            [m.question for m in markets],
            question,
            forecast_days,
            {e.name: i for i, e in enumerate(entities)},
        )
        self.nested_pairs = nested_pairs(self.market_links)

    def _init_claims(
        self,
        reading: SeedReading | None,
        question: str,
        entities: list[Entity],
        population: Population,
        seed: int,
    ) -> None:
        """What the swarm read, and who knows which claim at the start (engine/knowledge.py)."""
        self.reading = reading or SeedReading(
            proposition=parse_proposition(question), entities=entities, claims=[]
        )
        claims = self.reading.claims
        self.claim_ev, _ = claim_arrays(claims)
        self.claim_index = {c.claim_id: i for i, c in enumerate(claims)}
        self.claim_views = [
            ClaimView(
                claim_id=c.claim_id,
                text=c.text,
                source=c.source,
                stance=float(self.claim_ev[i]),
                label=c.label,
            )
            for i, c in enumerate(claims)
        ]
        self.principal = np.array(["--" not in a for a in population.ids], dtype=bool)
        self.known, self.anchor = initial_knowledge(
            entities, claims, population.entity_index, self.principal, seed
        )
        self.seen = self.known.astype(np.uint8)  # a claim one knows counts as met once
        population.initial_position = to_position(self.anchor)
        self.declared = np.full(population.n, np.nan)  # probabilities the agents stated this round

    def declare(self, agent: int, probability: Any) -> None:
        """Record the probability an agent stated with an action (the LLM policy); junk is ignored."""
        if isinstance(probability, bool) or not isinstance(probability, (int, float)):
            return
        if 0.0 <= float(probability) <= 1.0:
            self.declared[agent] = float(probability)

    def post_stance(self, agent: int, args: dict[str, Any], text: str) -> tuple[float, int]:
        """(stance toward YES, claim index or -1) of a post: the author's stated probability when it
        gave one, else the direction of the seed claim it argues, else a weak word-list reading."""
        claim_id = args.get("claim_id")
        claim = self.claim_index.get(claim_id, -1) if isinstance(claim_id, str) else -1
        p = args.get("probability")
        if isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 <= float(p) <= 1.0:
            return 2.0 * float(p) - 1.0, claim
        if claim >= 0:
            return float(self.claim_ev[claim]), claim
        return 0.3 * self.scorer.score(text, self.question), -1

    def _arrive(self, rnd: int) -> None:
        """Claims dated for this round enter the world: who learns them updates its view and anchor."""
        if not self.reading.claims:
            return
        learned, delta = arrivals(
            self.entities,
            self.reading.claims,
            self.pop.entity_index,
            self.principal,
            self.known,
            rnd,
            self.seed,
        )
        if learned.any():
            self.known |= learned
            self.seen = np.maximum(self.seen, learned.astype(np.uint8))
            self.anchor = self.anchor + delta
            self.position = to_position(to_logodds(self.position) + delta)

    @property
    def n(self) -> int:
        return self.pop.n

    @property
    def prominence(self) -> np.ndarray:
        """Per-agent feed prominence from the stakeholders' salience (engine/feed.py), cached."""
        cached = getattr(self, "_prominence", None)
        if cached is None or len(cached) != self.n:
            salience = [float(getattr(e, "salience", None) or e.weight) for e in self.entities]
            cached = self._prominence = prominence_prior(self.pop.entity_index, salience)
        return cached

    def prices(self) -> dict[str, float]:
        return {m.market_id: m.price("yes") for m in self.book.markets}

    def post_id(self, idx: int) -> str:
        return f"p{idx}"

    # -- observing -------------------------------------------------------------------------------

    def sample_active(self, rnd: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, rnd, 11])
        draws = rng.random(self.n)
        active = np.flatnonzero(draws < self.pop.trait("activity"))
        if len(active) == 0:
            active = np.array([int(np.argmin(draws / self.pop.trait("activity")))])
        return active

    def observe(self, rnd: int) -> tuple[RoundView, list[Observation]]:
        """Observations of this round's active agents (stable order: agent index)."""
        self._arrive(rnd)
        active = self.sample_active(rnd)
        feeds = rank_feeds(
            self.platform,
            active,
            self.position,
            rnd,
            rng=np.random.default_rng([self.seed, rnd, 31]),
            prominence=self.prominence,
            last_read=self.last_read,
        )
        plat, pop = self.platform, self.pop
        author, likes, dislikes = plat.col("author"), plat.col("likes"), plat.col("dislikes")
        reposts, rounds, nreplies = plat.col("reposts"), plat.col("round"), plat.col("replies")
        reply_cache: dict[int, list[FeedReply]] = {}
        events = [
            ViralEvent(
                round=r,
                post_id=self.post_id(p),
                author_id=pop.ids[author[p]],
                author_name=pop.names[author[p]],
                text=plat.texts[p],
                engagement=int(likes[p] + reposts[p]),
            )
            for p, r in self.viral_log
            if r >= rnd - EVENT_ROUNDS
        ]
        market_ids = [m.market_id for m in self.book.markets]
        questions = [m.question for m in self.book.markets]
        prices = [m.price("yes") for m in self.book.markets]
        fk = plat.follows
        n = self.n
        links = self.market_links
        ent_index = pop.entity_index
        counts = np.bincount(ent_index, minlength=len(self.entities))
        entity_mean = np.bincount(
            ent_index, weights=self.position, minlength=len(self.entities)
        ) / np.maximum(counts, 1)
        readers: list[int] = []
        posts_read: list[int] = []
        observations: list[Observation] = []
        claim_ids = [c.claim_id for c in self.reading.claims] + [""]  # index -1 -> ""
        ids, names, texts = pop.ids, pop.names, plat.texts
        # what every reader sees alike of a post, built once per round (the feed's hot path)
        shared: dict[int, tuple[dict[str, Any], int, list[int]]] = {}
        for row, agent in enumerate(active.tolist()):
            feed: list[FeedPost] = []
            for p in feeds[row].tolist():
                if p < 0:
                    break
                entry = shared.get(p)
                if entry is None:
                    kids = plat.first_replies(p)
                    replies = reply_cache.get(p)
                    if replies is None:
                        replies = [
                            FeedReply(
                                post_id=f"p{c}",
                                author_id=ids[author[c]],
                                author_name=names[author[c]],
                                text=texts[c],
                                likes=int(likes[c]),
                                dislikes=int(dislikes[c]),
                                stance=float(plat.stance[c]),
                                claim_id=claim_ids[int(plat.claim[c])],
                            )
                            for c in kids
                        ]
                        reply_cache[p] = replies
                    a = int(author[p])
                    fields = {
                        "post_id": f"p{p}",
                        "author_id": ids[a],
                        "author_name": names[a],
                        "text": texts[p],
                        "round": int(rounds[p]),
                        "likes": int(likes[p]),
                        "dislikes": int(dislikes[p]),
                        "reposts": int(reposts[p]),
                        "replies": replies,
                        "reply_count": int(nreplies[p]),
                        "stance": float(plat.stance[p]),
                        "claim_id": claim_ids[int(plat.claim[p])],
                    }
                    entry = shared[p] = (fields, a, list(kids) + [int(author[c]) for c in kids])
                fields, a, kid_info = entry
                feed.append(
                    FeedPost(**fields, followed=(agent * n + a) in fk, my_vote=plat.my_vote(agent, p))
                )
                readers.append(agent)
                posts_read.append(p)
                half = len(kid_info) // 2
                for k in range(half):
                    if kid_info[half + k] != agent:
                        readers.append(agent)
                        posts_read.append(kid_info[k])
            holdings = self.book.holdings[:, agent, :]
            own = float(self.position[agent])
            p_main = belief_from_position(own)
            beliefs = [
                market_belief(
                    p_main,
                    link,
                    own_position=own,
                    corr=float(self.market_corr[k]),
                    actor_position=float(entity_mean[link.entity]) if link.entity >= 0 else 0.0,
                )
                for k, link in enumerate(links)
            ]
            observations.append(
                Observation(
                    agent_id=pop.ids[agent],
                    agent_name=pop.names[agent],
                    persona=pop.personas[agent],
                    traits=pop.trait_dict(agent),
                    round=rnd,
                    rounds=self.rounds,
                    question=self.question,
                    position=float(self.position[agent]),
                    confidence=float(self.confidence[agent]),
                    cash=float(self.book.cash[agent]),
                    markets=[
                        MarketView(
                            market_id=market_ids[k],
                            question=questions[k],
                            price_yes=prices[k],
                            yes_shares=float(holdings[k, 0]),
                            no_shares=float(holdings[k, 1]),
                            belief_yes=round(beliefs[k], 4),
                        )
                        for k in range(len(market_ids))
                    ],
                    feed=feed,
                    last_results=self.last_results.get(agent, []),
                    events=events,
                    entity_id=self.entities[pop.entity_index[agent]].entity_id,
                    entity_name=self.entities[pop.entity_index[agent]].name,
                    following=[pop.ids[j] for j in plat.following(agent)],
                    forecast_days=self.forecast_days,
                    claims=[self.claim_views[c] for c in np.flatnonzero(self.known[agent]).tolist()],
                )
            )
        read_reader = np.asarray(readers, dtype=np.int64)
        read_post = np.asarray(posts_read, dtype=np.int64)
        sp = social_proof(
            likes[read_post].astype(float),
            reposts[read_post].astype(float),
            dislikes[read_post].astype(float),
        )
        return RoundView(active, read_reader, read_post, sp), observations

    # -- after the actions -----------------------------------------------------------------------

    def end_round(self, rnd: int, view: RoundView, stats: dict[str, Any]) -> None:
        """Beliefs from what was read, virality, and the round's records."""
        plat, rec = self.platform, self.recorder
        reader, post = view.read_reader, view.read_post
        authors = plat.col("author")[post].astype(np.int64)
        stance = plat.stance[post]
        claim = plat.claim[post].astype(np.int64)
        weight = 2.0 * self.trust.get(reader, authors) * view.read_sp * novelty(self.seen, reader, claim)
        logodds = update_beliefs(
            to_logodds(self.position),
            self.anchor,
            self.confidence,
            self.pop.trait("stubbornness"),
            self.pop.trait("contrarianism"),
            reader,
            stance,
            weight,
        )
        stated = ~np.isnan(self.declared)
        if stated.any():  # an LLM agent's belief is the probability it declared (docs/engine.md, "Policies")
            p = np.clip(self.declared[stated], 0.0025, 0.9975)
            logodds[stated] = np.log(p / (1.0 - p))
            self.declared[:] = np.nan
        self.position = to_position(logodds)
        mark_seen(self.seen, self.known, reader, claim)
        update_trust(self.trust, reader, authors, stance, self.position)
        self.confidence = update_confidence(
            self.confidence, stats["likes_received"], stats["dislikes_received"]
        )
        self.last_read[view.active] = rnd
        for p in plat.mark_viral(self.viral_threshold):
            self.viral_log.append([p, rnd])
        ent = self.pop.entity_index
        if len(reader):
            np.add.at(rec.interactions[INTERACTIONS.index("reads")], (ent[reader], ent[authors]), 1)
        rec.positions.append(self.position.copy())
        rec.confidences.append(self.confidence.copy())
        rec.round_posts.append(stats["agent_posts"])
        rec.round_actions.append(stats["agent_actions"])
        rec.engagement.append(
            EngagementRound(
                round=rnd,
                posts=stats["posts"],
                replies=stats["replies"],
                votes=stats["votes"],
                reposts=stats["reposts"],
                follows=stats["follows"],
                trades=stats["trades"],
                active_agents=len(view.active),
            )
        )
        for k, m in enumerate(self.book.markets):
            rec.curves[m.market_id].append(
                CurvePoint(round=rnd, price_yes=m.price("yes"), volume=float(stats["volume"][k]))
            )
        self.round = rnd

    # -- checkpoint ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "rounds": self.rounds,
            "seed": self.seed,
            "forecast_days": self.forecast_days,
            "entities": msgspec.to_builtins(self.entities),
            "pop": self.pop.state(),
            "position": self.position,
            "confidence": self.confidence,
            "platform": self.platform.state(),
            "markets": [m.state() for m in self.book.markets],
            "cash": self.book.cash,
            "holdings": self.book.holdings,
            "book": self.book.state(),
            "trust": self.trust.state(),
            "market_corr": self.market_corr,
            "last_read": self.last_read,
            "last_results": [
                [k, msgspec.to_builtins(v, enc_hook=numpy_hook)] for k, v in self.last_results.items()
            ],
            "viral_log": self.viral_log,
            "round": self.round,
            "recorder": self.recorder.state(),
            "reading": msgspec.to_builtins(self.reading),
            "known": self.known,
            "seen": self.seen,
            "anchor": self.anchor,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any], scorer: StanceScorer | None = None) -> World:
        markets = [Market.from_state(m) for m in s["markets"]]
        w = cls(
            question=s["question"],
            rounds=s["rounds"],
            seed=s["seed"],
            forecast_days=s["forecast_days"],
            entities=msgspec.convert(s["entities"], list[Entity]),
            population=Population.from_state(s["pop"]),
            markets=markets,
            market_corr=list(s["market_corr"]),
            scorer=scorer,
            reading=msgspec.convert(s["reading"], SeedReading) if s.get("reading") else None,
        )
        w.pop.initial_position = np.asarray(s["pop"]["initial_position"])
        if "known" in s:
            w.known, w.seen, w.anchor = s["known"], s["seen"], s["anchor"]
        w.position, w.confidence = s["position"], s["confidence"]
        w.platform = Platform.from_state(s["platform"])
        w.book.cash, w.book.holdings = s["cash"], s["holdings"]
        w.book.restore(s.get("book"))
        w.trust = TrustStore.from_state(s["trust"])
        w.last_read = s["last_read"]
        w.last_results = {int(k): msgspec.convert(v, list[ActionResult]) for k, v in s["last_results"]}
        w.viral_log = [list(x) for x in s["viral_log"]]
        w.round = s["round"]
        w.recorder = Recorder.from_state(s["recorder"])
        return w
