"""The question and its markets: validation of the run spec and heuristic market derivation."""

from __future__ import annotations

import re

from contracts.spec import GOAL_MAX_CHARS, MARKET_QUESTION_MAX_CHARS, SEED_MAX_CHARS, MarketSpec, SpecError
from contracts.worker import RunSpec
from engine.coherence import (
    deadline_probability,
    split_horizon,
    stricter_threshold,
    strip_horizon,
    time_anchor,
)
from engine.entities import Entity
from engine.text import clean, content_words, shorten

DEFAULT_MARKET_LIMIT = 3
MAX_AGENTS = 100_000
MAX_ROUNDS = 10_000
_AUX = re.compile(r"^(will|would|is|are|was|does|do|did|can|could|should|has|have)\s+", re.IGNORECASE)


def validate_run_spec(spec: RunSpec) -> None:
    """Raise SpecError (a ValueError) naming the field when the spec cannot run."""
    if not spec.seed_text or not spec.seed_text.strip():
        raise SpecError("seed_text", "must not be empty; give the text the simulation starts from")
    if len(spec.seed_text) > SEED_MAX_CHARS:
        raise SpecError(
            "seed_text", f"is {len(spec.seed_text):,} characters; the limit is {SEED_MAX_CHARS:,}"
        )
    goal = clean(spec.goal or "")
    if len(goal) < 5:
        raise SpecError(
            "goal", "must be a prediction question of at least 5 characters, e.g. 'Will X happen by June?'"
        )
    if len(goal) > GOAL_MAX_CHARS:
        raise SpecError("goal", f"is {len(goal):,} characters; the limit is {GOAL_MAX_CHARS:,}")
    if len(re.findall(r"[^\W\d_]", goal)) < 3 or not content_words(goal):
        raise SpecError(
            "goal", f"{shorten(goal, 60)!r} is not a question in words; ask e.g. 'Will X happen by June?'"
        )
    if not 1 <= spec.agents <= MAX_AGENTS:
        raise SpecError("agents", f"must be between 1 and {MAX_AGENTS:,}, got {spec.agents}")
    if not 1 <= spec.rounds <= MAX_ROUNDS:
        raise SpecError("rounds", f"must be between 1 and {MAX_ROUNDS:,}, got {spec.rounds}")
    if spec.checkpoint_every < 0:
        raise SpecError("checkpoint_every", "must be 0 (off) or a positive number of rounds")
    if spec.policy not in ("heuristic", "llm"):
        raise SpecError("policy", f"must be 'heuristic' or 'llm', got {spec.policy!r}")
    for i, m in enumerate(spec.markets):
        if not clean(m.question):
            raise SpecError(f"markets[{i}].question", "must not be empty")
        if not 0.0 < m.initial_price_yes < 1.0:
            raise SpecError(f"markets[{i}].initial_price_yes", "must be strictly between 0 and 1")


def as_question(text: str) -> str:
    """Whitespace cleaned, capitalised, ending in '?', at most 200 characters."""
    q = clean(text).rstrip(" .!?")
    q = shorten(q, MARKET_QUESTION_MAX_CHARS - 1)
    return (q[:1].upper() + q[1:]).rstrip("…").rstrip() + "?"


ACTOR_TYPES = frozenset({"person", "organization", "organisation", "public_body", "public body"})


_INSTITUTION = re.compile(
    r"^(?:federal|european|national|central|state|city|county|metro|royal|supreme|"
    r"international|world|united)\b|\b(?:authority|commission|council|union|bank|association|"
    r"agency|board|court|ministry|department|senate|parliament|congress|committee|government|"
    r"regulator|assembly|federation|office|party|police|army|navy)$",
    re.IGNORECASE,
)


def _actor(goal: str, entities: list[Entity]) -> Entity | None:
    """The most salient concrete stakeholder (a person, organisation or public body) that the goal
    does not name: the question's own subject (a product, a candidate, a team) cannot back it."""

    def named_in_goal(e: Entity) -> bool:
        names = [e.name, *getattr(e, "aliases", [])]
        return any(
            re.search(rf"(?<!\w){re.escape(n)}(?!\w)", goal, re.IGNORECASE) for n in names if len(n) > 1
        )

    named = [
        e for e in entities if e.type.lower() in ACTOR_TYPES and len(e.name) > 2 and not named_in_goal(e)
    ]
    if not named:
        return None
    return max(named, key=lambda e: (float(getattr(e, "salience", 0.0) or 0.0), e.weight, e.entity_id))


def _with_article(entity: Entity) -> str:
    """'the Transit Authority', 'the Federal Trade Commission'; people and brand names as they are."""
    name = entity.name
    if entity.type.lower() != "person" and not name.lower().startswith("the ") and _INSTITUTION.search(name):
        return f"the {name}"
    return name


def derive_markets_heuristic(
    goal: str, entities: list[Entity], limit: int, forecast_days: int
) -> list[MarketSpec]:
    """Up to `limit` binary markets from the goal and the seed's stakeholders, goal first, each
    asking something different (docs/engine.md, "Derived markets"):

    1. the goal itself;
    2. when the goal counts down to a deadline ("within 30 days", "by June 30"; not "this season"
       or "at its March meeting"), the same event on half the horizon ("Will X close within 15
       days?"): the goal's own window or deadline is replaced, never appended to; nested inside the
       goal, so its price is kept at or below the goal's (engine/coherence.py);
    3. whether the most salient named stakeholder the goal does not itself name (a person,
       organisation or public body; never a role word, a fragment, or the question's own subject)
       publicly backs the outcome (within the horizon when the goal counts down), priced from its
       stance in the seed;
    4. the goal with a threshold about a quarter harder to pass ("more than $250 million" for
       "more than $200 million"), nested inside the goal;
    5. when the goal counts down, the event on twice the horizon.

    The first `limit` of these that apply, after the goal.
    """
    main = as_question(goal)
    out = [MarketSpec(question=main, initial_price_yes=0.5, rationale="the question asked")]
    _, goal_days, has_date = split_horizon(goal)
    horizon = goal_days or max(1, forecast_days)
    core = strip_horizon(goal)
    # a countdown only: "within 30 days" or "by June 30", not "this season" or no time at all
    timed = bool(_AUX.match(core)) and (goal_days is not None or has_date) and not time_anchor(goal)
    if timed and horizon >= 2:
        short = max(1, horizon // 2)
        out.append(
            MarketSpec(
                question=as_question(f"{core} within {short} days"),
                initial_price_yes=round(deadline_probability(0.5, short / horizon), 2),
                rationale=f"the same event on a tighter deadline ({short} of {horizon} days); never above the question",
            )
        )
    actor = _actor(goal, entities)
    if actor is not None:
        price = min(0.8, max(0.2, 0.5 + 0.3 * actor.stance))
        window = f" within {horizon} days" if timed else ""
        question = as_question(
            f"Will {_with_article(actor)} publicly back a yes to “{shorten(core, 110)}?”{window}"
        )
        out.append(
            MarketSpec(
                question=question[:-1] if question.endswith("?”?") else question,
                initial_price_yes=round(price, 2),
                rationale=f"where {actor.name} ends up; its stance in the seed",
            )
        )
    harder = stricter_threshold(as_question(goal))
    if harder is not None:
        out.append(
            MarketSpec(
                question=harder,
                initial_price_yes=0.25,
                rationale="the same question with a harder threshold; never above the question",
            )
        )
    if timed:
        out.append(
            MarketSpec(
                question=as_question(f"{core} within {2 * horizon} days"),
                initial_price_yes=round(deadline_probability(0.5, 2.0), 2),
                rationale=f"the same event on a longer deadline ({2 * horizon} days); never below the question",
            )
        )
    seen: set[str] = set()
    unique = []
    for m in out:
        if m.question.casefold() not in seen:
            seen.add(m.question.casefold())
            unique.append(m)
    return unique[:limit]
