"""The numbers behind the report: price moves per trade, coalitions, belief phases, keywords. Pure."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from contracts.artifacts import MarketCurve, Post, Trade
from services.reporter.artifacts import RunArtifacts

# An agent whose final position lies within this band of 0 is counted as undecided.
NEUTRAL_BAND = 0.1

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just let me more most my no
    nor not now of off on once only or other our ours out over own same she should so some such than that
    the their theirs them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yes no think market
    price prices post posts agree disagree really still going one get got like see much many even well
    make way time says said new may might must shall us via per rt either speaking seems sure
    things thing lot back""".split()
)
_WORD = re.compile(r"[a-z][a-z'\-]{2,}")


def tokens(text: str) -> list[str]:
    """Lower-cased content words of a text (stopwords and very short words dropped)."""
    words = (w.strip("'-") for w in _WORD.findall(text.lower()))
    return [w for w in words if "'" not in w and len(w) > 2 and w not in _STOPWORDS]


def stance_label(position: float) -> str:
    """YES / NO / undecided for a belief position in [-1, 1]."""
    if position > NEUTRAL_BAND:
        return "YES"
    if position < -NEUTRAL_BAND:
        return "NO"
    return "undecided"


# -- agents ------------------------------------------------------------------------------------


class AgentNames(dict[str, str]):
    """agent_id -> display name, with the reverse look-up built once."""

    def __init__(self, pairs: dict[str, str]) -> None:
        super().__init__(pairs)
        self.by_name = {v: k for k, v in pairs.items()}


def agent_names(art: RunArtifacts) -> AgentNames:
    """agent_id -> display name (from profiles, then trajectories)."""
    names = {t.agent_id: t.agent_name for t in art.trajectories}
    names.update({p.agent_id: p.name for p in art.profiles})
    return AgentNames(names)


def resolve_agent(ref: str, names: dict[str, str]) -> str:
    """An author/agent reference as agent_id (artifacts may carry either the id or the name)."""
    if ref in names:
        return ref
    by_name = names.by_name if isinstance(names, AgentNames) else {v: k for k, v in names.items()}
    return by_name.get(ref, ref)


def final_positions(art: RunArtifacts) -> dict[str, float]:
    """Each agent's position after the last round (profiles first, trajectory as a fallback)."""
    out = {t.agent_id: t.points[-1].position for t in art.trajectories if t.points}
    out.update({p.agent_id: p.final_position for p in art.profiles})
    return out


def positions_by_round(art: RunArtifacts) -> dict[int, np.ndarray]:
    """round -> array of every agent's position at the end of that round (round 0: initial)."""
    acc: dict[int, list[float]] = defaultdict(list)
    for p in art.profiles:
        acc[0].append(p.initial_position)
    for t in art.trajectories:
        for pt in t.points:
            if pt.round > 0 or not art.profiles:
                acc[pt.round].append(pt.position)
    return {r: np.asarray(v, dtype=float) for r, v in sorted(acc.items())}


# -- markets -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PriceMove:
    """A YES price before and after something moved it."""

    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass(frozen=True, kw_only=True)
class TradeMove(PriceMove):
    trade: Trade


def opening_price(curve: MarketCurve, art: RunArtifacts) -> float:
    """The price before round 1: a round-0 point, else the spec's initial price, else the first point."""
    points = sorted(curve.points, key=lambda p: p.round)
    if points and points[0].round == 0:
        return points[0].price_yes
    for m in art.spec.get("markets") or []:
        if (
            isinstance(m, dict)
            and str(m.get("question", "")).strip().lower() == curve.question.strip().lower()
        ):
            return float(m.get("initial_price_yes", 0.5))
    return points[0].price_yes if points else 0.5


def closing_price(curve: MarketCurve) -> float:
    return max(curve.points, key=lambda p: p.round).price_yes if curve.points else 0.5


def trade_moves(art: RunArtifacts) -> dict[str, list[TradeMove]]:
    """market_id -> its successful trades in order, each with the YES price before and after it."""
    last = {c.market_id: opening_price(c, art) for c in art.curves}
    moves: dict[str, list[TradeMove]] = defaultdict(list)
    for t in sorted((t for t in art.trades if t.success), key=lambda t: t.round):  # stable: file order
        before = last.get(t.market_id, 0.5)
        moves[t.market_id].append(TradeMove(trade=t, before=before, after=t.price_after))
        last[t.market_id] = t.price_after
    return moves


@dataclass(frozen=True, kw_only=True)
class RoundMove(PriceMove):
    market_id: str
    round: int


def biggest_round_move(curve: MarketCurve, art: RunArtifacts) -> RoundMove | None:
    """The round in which this market's YES price moved most."""
    prev = opening_price(curve, art)
    best: RoundMove | None = None
    for p in sorted(curve.points, key=lambda p: p.round):
        if p.round == 0:
            continue
        move = RoundMove(market_id=curve.market_id, round=p.round, before=prev, after=p.price_yes)
        if best is None or abs(move.delta) > abs(best.delta):
            best = move
        prev = p.price_yes
    return best


def primary_curve(art: RunArtifacts) -> MarketCurve | None:
    """The market that asks the goal itself, else the first one."""
    goal = art.goal.strip().lower()
    for c in art.curves:
        if c.question.strip().lower() == goal:
            return c
    return art.curves[0] if art.curves else None


# -- posts -------------------------------------------------------------------------------------


def engagement(post: Post) -> int:
    return post.likes + post.reposts + post.replies


def top_posts(art: RunArtifacts, n: int = 5, rounds: range | None = None) -> list[Post]:
    """The most engaged posts (optionally of some rounds); ties broken by post id for stable output."""
    pool = [p for p in art.posts if rounds is None or p.round in rounds]
    return sorted(pool, key=lambda p: (-engagement(p), p.round, p.post_id))[:n]


# -- coalitions --------------------------------------------------------------------------------


@dataclass
class Coalition:
    stance: str
    members: list[str]
    mean_position: float
    keywords: list[str] = field(default_factory=list)
    entities: list[tuple[str, int]] = field(default_factory=list)  # (entity_id, members), largest first
    voices: list[str] = field(default_factory=list)  # members whose posts drew the most engagement
    cohesive: bool = True  # False: agents of one stance with no mutual follows among them
    stakeholder_names: list[str] = field(default_factory=list)  # display names of `entities`, same order
    shared_claims: list[str] = field(default_factory=list)  # texts of the claims its members argue together

    @property
    def name(self) -> str:
        """Named by its members: the stakeholders most of them stand for (never by post words)."""
        who = self.stakeholder_names or [e for e, _ in self.entities]
        members = _join(who[:3]) + (f" and {len(who) - 3} more" if len(who) > 3 else "")
        return f"{self.stance} bloc of {members}" if self.cohesive else f"unaligned {self.stance}: {members}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items) or "no stakeholder"
    return ", ".join(items[:-1]) + " and " + items[-1]


def _components(members: list[str], pairs: list[tuple[str, str]]) -> list[list[str]]:
    parent = {m: m for m in members}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if a in parent and b in parent:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for m in members:
        groups[find(m)].append(m)
    return [sorted(g) for g in groups.values()]


def find_coalitions(art: RunArtifacts, max_keywords: int = 4) -> list[Coalition]:
    """Agents grouped by the sign of their final position, split by connected mutual-follow components.

    Agents of one stance who share no mutual follow with others of that stance form one loose group.
    Each group is named by the words most distinctive of its members' posts (tf-idf over the groups).
    """
    names = agent_names(art)
    final = final_positions(art)
    pairs = [
        (resolve_agent(p[0], names), resolve_agent(p[1], names)) for p in art.social.mutual if len(p) >= 2
    ]
    by_stance: dict[str, list[str]] = defaultdict(list)
    for agent_id in sorted(final):
        by_stance[stance_label(final[agent_id])].append(agent_id)
    groups: list[Coalition] = []
    for stance, members in by_stance.items():
        loose: list[str] = []
        for comp in _components(members, pairs):
            if len(comp) >= 2:
                groups.append(Coalition(stance, comp, float(np.mean([final[m] for m in comp]))))
            else:
                loose.extend(comp)
        if loose:
            groups.append(
                Coalition(stance, sorted(loose), float(np.mean([final[m] for m in loose])), cohesive=False)
            )
    _name_groups(art, groups, names, max_keywords)
    _describe_groups(art, groups, names)
    groups.sort(key=lambda g: (-len(g.members), not g.cohesive, g.stance, g.members[0]))
    return groups


def _describe_groups(art: RunArtifacts, groups: list[Coalition], names: dict[str, str]) -> None:
    entity_of = {p.agent_id: p.entity_id for p in art.profiles}
    drew: Counter[str] = Counter()
    for post in art.posts:
        drew[resolve_agent(post.author, names)] += engagement(post)
    for g in groups:
        g.entities = sorted(
            Counter(entity_of.get(m, "unknown") for m in g.members).items(), key=lambda kv: (-kv[1], kv[0])
        )
        g.voices = sorted(g.members, key=lambda m: (-drew[m], m))[:5]


def _name_groups(art: RunArtifacts, groups: list[Coalition], names: dict[str, str], k: int) -> None:
    goal_words = set(tokens(art.goal))
    member_of = {m: i for i, g in enumerate(groups) for m in g.members}
    counts: list[Counter[str]] = [Counter() for _ in groups]
    for post in art.posts:
        idx = member_of.get(resolve_agent(post.author, names))
        if idx is not None:
            counts[idx].update(w for w in tokens(post.text) if w not in goal_words)
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n = len(groups)
    for g, c in zip(groups, counts, strict=True):
        scored = sorted(
            c.items(), key=lambda kv: (-(kv[1] * (1.0 + math.log((1 + n) / (1 + df[kv[0]])))), kv[0])
        )
        g.keywords = [w for w, _ in scored[:k]]


# -- belief phases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    name: str  # early | mid | late
    first_day: int
    last_day: int
    rounds: range
    mean_start: float
    mean_end: float
    spread_start: float
    spread_end: float
    yes_share: float
    no_share: float
    price_end: float | None

    @property
    def weeks(self) -> str:
        w0, w1 = (self.first_day - 1) // 7 + 1, (self.last_day - 1) // 7 + 1
        return f"week {w0}" if w0 == w1 else f"weeks {w0}-{w1}"

    @property
    def label(self) -> str:
        return f"{self.name.capitalize()} ({self.weeks}, days {self.first_day}-{self.last_day})"


def round_day(rnd: int, rounds: int, days: int) -> float:
    """The forecast day a round stands for: rounds spread evenly over the horizon (round R = day D)."""
    return rnd * days / max(1, rounds)


def belief_phases(art: RunArtifacts) -> list[Phase]:
    """Early / mid / late thirds of the forecast horizon (in days and weeks), with the rounds in each."""
    days, rounds = art.forecast_days, art.rounds
    by_round = positions_by_round(art)
    curve = primary_curve(art)
    prices = {p.round: p.price_yes for p in curve.points} if curve else {}
    bounds = [0, round(days / 3), round(2 * days / 3), days]
    phases: list[Phase] = []
    prev_round = 0
    for i, name in enumerate(("early", "mid", "late")):
        lo, hi = bounds[i], bounds[i + 1]
        members = [r for r in range(1, rounds + 1) if lo < round_day(r, rounds, days) <= hi]
        if not members or hi <= lo:
            continue
        start = _at_or_before(by_round, prev_round)
        end = _at_or_before(by_round, members[-1])
        price_end = _value_at_or_before(prices, members[-1])
        phases.append(
            Phase(
                name=name,
                first_day=lo + 1,
                last_day=hi,
                rounds=range(members[0], members[-1] + 1),
                mean_start=_mean(start),
                mean_end=_mean(end),
                spread_start=_std(start),
                spread_end=_std(end),
                yes_share=float(np.mean(end > NEUTRAL_BAND)) if end.size else 0.0,
                no_share=float(np.mean(end < -NEUTRAL_BAND)) if end.size else 0.0,
                price_end=price_end,
            )
        )
        prev_round = members[-1]
    return phases


def _at_or_before(by_round: dict[int, np.ndarray], rnd: int) -> np.ndarray:
    keys = [r for r in by_round if r <= rnd]
    return by_round[max(keys)] if keys else np.zeros(0)


def _value_at_or_before(values: dict[int, float], rnd: int) -> float | None:
    keys = [r for r in values if r <= rnd]
    return values[max(keys)] if keys else None


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if a.size else 0.0


def _std(a: np.ndarray) -> float:
    return float(a.std()) if a.size else 0.0
