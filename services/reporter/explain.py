"""Why the forecast came out as it did (docs/report.md, "Explaining the forecast"). Pure.

Which stakeholders moved the price (the signed price moves of their agents' trades), which claims
carried the debate (the engagement of the posts that argued them), when the price moved most and
what entered the world then, and who resisted (stakeholders that ended on the other side of the
market). Works from claims.json and stakeholders.json when the run has them, else from posts,
profiles and trades alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from contracts.artifacts import Claim, Post
from services.reporter import analysis as an
from services.reporter.artifacts import RunArtifacts

ARBITRAGEUR = "arbitrageur"  # the engine's house arbitrageur (engine/market.py), not a stakeholder


@dataclass
class Stakeholders:
    """entity_id -> display name, and agent_id -> entity_id."""

    names: dict[str, str]
    of_agent: dict[str, str]

    def name(self, entity_id: str) -> str:
        return self.names.get(entity_id, entity_id)


def stakeholders(art: RunArtifacts) -> Stakeholders:
    """Names from stakeholders.json, else from each stakeholder's principal agent (named after it)."""
    of_agent = {p.agent_id: p.entity_id for p in art.profiles}
    names: dict[str, str] = {}
    for p in art.profiles:
        if p.agent_id == p.entity_id:
            names[p.entity_id] = p.name
    if art.stakeholders is not None:
        names.update({e.entity_id: e.name for e in art.stakeholders.stakeholders})
    return Stakeholders(names, of_agent)


def claims_by_id(art: RunArtifacts) -> dict[str, Claim]:
    return {c.claim_id: c for c in art.claims.claims} if art.claims is not None else {}


# -- who moved the price ---------------------------------------------------------------------------


@dataclass
class Flow:
    """The price moves one stakeholder's agents caused in one market."""

    entity_id: str
    net: float = 0.0  # sum of the YES price moves of its trades
    trades: int = 0
    up: an.TradeMove | None = None  # its trade that raised the YES price most
    down: an.TradeMove | None = None  # and the one that lowered it most
    by_round: dict[int, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def biggest(self) -> an.TradeMove | None:
        """Its largest trade in the direction it moved the market on balance."""
        return (self.up or self.down) if self.net >= 0 else (self.down or self.up)

    def peak_round(self) -> int:
        """The round in which this stakeholder pushed hardest in its net direction."""
        sign = 1.0 if self.net >= 0 else -1.0
        return max(sorted(self.by_round), key=lambda r: sign * self.by_round[r]) if self.by_round else 0


def price_flows(art: RunArtifacts, market_id: str, rounds: range | None = None) -> list[Flow]:
    """Per stakeholder, the signed YES price moves of its agents' successful trades in the market
    (optionally of some rounds only), largest |net| first. The house arbitrageur's trades are left
    out (they only restore coherence)."""
    sh = stakeholders(art)
    names = an.agent_names(art)
    flows: dict[str, Flow] = {}
    for move in an.trade_moves(art).get(market_id, []):
        agent = move.trade.agent
        if agent == ARBITRAGEUR or (rounds is not None and move.trade.round not in rounds):
            continue
        entity = sh.of_agent.get(an.resolve_agent(agent, names), "unknown")
        flow = flows.setdefault(entity, Flow(entity))
        flow.net += move.delta
        flow.trades += 1
        flow.by_round[move.trade.round] += move.delta
        if move.delta > 0 and (flow.up is None or move.delta > flow.up.delta):
            flow.up = move
        elif move.delta < 0 and (flow.down is None or move.delta < flow.down.delta):
            flow.down = move
    return sorted(flows.values(), key=lambda f: (-abs(f.net), f.entity_id))


# -- which claims carried the debate ---------------------------------------------------------------


@dataclass
class ClaimWeight:
    claim: Claim
    posts: list[Post]
    engagement: int
    authors: set[str]

    @property
    def first_round(self) -> int:
        return min(p.round for p in self.posts)

    @property
    def lead_post(self) -> Post:
        return max(self.posts, key=lambda p: (an.engagement(p), -p.round, p.post_id))


def claim_weights(art: RunArtifacts) -> list[ClaimWeight]:
    """Claims argued in at least one post, by the engagement those posts drew (most first)."""
    claims = claims_by_id(art)
    names = an.agent_names(art)
    posts: dict[str, list[Post]] = defaultdict(list)
    for p in art.posts:
        if p.claim_id and p.claim_id in claims:
            posts[p.claim_id].append(p)
    out = [
        ClaimWeight(
            claims[cid],
            ps,
            sum(an.engagement(p) for p in ps),
            {an.resolve_agent(p.author, names) for p in ps},
        )
        for cid, ps in posts.items()
    ]
    return sorted(out, key=lambda w: (-w.engagement, -len(w.posts), w.claim.claim_id))


# -- who resisted ----------------------------------------------------------------------------------


@dataclass
class Holdout:
    """A stakeholder whose agents ended on the side the market closed against."""

    entity_id: str
    agents: list[str]
    start: float
    end: float

    @property
    def side(self) -> str:
        return an.stance_label(self.end)


def holdouts(art: RunArtifacts, closing_price: float) -> list[Holdout]:
    """Stakeholders whose agents' mean final position is on the other side of the closing price
    (YES above 0.5, NO below), the firmest and largest first."""
    if abs(closing_price - 0.5) < 0.03:
        return []
    market_side = 1.0 if closing_price > 0.5 else -1.0
    sh = stakeholders(art)
    initial = {p.agent_id: p.initial_position for p in art.profiles}
    final = an.final_positions(art)
    members: dict[str, list[str]] = defaultdict(list)
    for agent in sorted(final):
        members[sh.of_agent.get(agent, "unknown")].append(agent)
    out = []
    for entity, agents in members.items():
        end = sum(final[a] for a in agents) / len(agents)
        start = sum(initial.get(a, final[a]) for a in agents) / len(agents)
        if end * market_side < -an.NEUTRAL_BAND:
            out.append(Holdout(entity, agents, start, end))
    return sorted(out, key=lambda h: (-abs(h.end) * len(h.agents) ** 0.5, h.entity_id))


def lead_post_of(art: RunArtifacts, agents: list[str] | set[str]) -> Post | None:
    """The most engaged post written by any of these agents."""
    names = an.agent_names(art)
    wanted = set(agents)
    own = [p for p in art.posts if an.resolve_agent(p.author, names) in wanted]
    return max(own, key=lambda p: (an.engagement(p), -p.round, p.post_id)) if own else None


def arrivals(art: RunArtifacts, rounds: range) -> list[Claim]:
    """Claims that entered the world in these rounds (later-dated news)."""
    if art.claims is None:
        return []
    return [c for c in art.claims.claims if c.arrival_round in rounds and c.arrival_round > 0]


def shared_claims(art: RunArtifacts, members: list[str], limit: int = 2) -> list[Claim]:
    """Claims argued by the most members of a group (at least two of them when the group has two)."""
    claims = claims_by_id(art)
    names = an.agent_names(art)
    wanted = set(members)
    by_claim: dict[str, set[str]] = defaultdict(set)
    for p in art.posts:
        author = an.resolve_agent(p.author, names)
        if p.claim_id in claims and author in wanted:
            by_claim[p.claim_id].add(author)
    need = 2 if len(members) >= 2 else 1
    ranked = sorted(
        (cid for cid, who in by_claim.items() if len(who) >= need), key=lambda cid: (-len(by_claim[cid]), cid)
    )
    return [claims[cid] for cid in ranked[:limit]]


def describe_coalitions(art: RunArtifacts, groups: list[an.Coalition]) -> None:
    """Give each coalition its stakeholders' display names and the claims its members share."""
    sh = stakeholders(art)
    for g in groups:
        g.stakeholder_names = [sh.name(e) for e, _ in g.entities]
        g.shared_claims = [c.text for c in shared_claims(art, g.members)]
