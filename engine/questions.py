"""The question and its markets: validation of the run spec and heuristic market derivation."""

from __future__ import annotations

import re

from contracts.spec import GOAL_MAX_CHARS, MARKET_QUESTION_MAX_CHARS, SEED_MAX_CHARS, MarketSpec, SpecError
from contracts.worker import RunSpec
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
        raise SpecError("seed_text", f"is {len(spec.seed_text):,} characters; the limit is {SEED_MAX_CHARS:,}")
    goal = clean(spec.goal or "")
    if len(goal) < 5:
        raise SpecError("goal", "must be a prediction question of at least 5 characters, e.g. 'Will X happen by June?'")
    if len(goal) > GOAL_MAX_CHARS:
        raise SpecError("goal", f"is {len(goal):,} characters; the limit is {GOAL_MAX_CHARS:,}")
    if len(re.findall(r"[^\W\d_]", goal)) < 3 or not content_words(goal):
        raise SpecError("goal", f"{shorten(goal, 60)!r} is not a question in words; ask e.g. 'Will X happen by June?'")
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


def derive_markets_heuristic(goal: str, entities: list[Entity], limit: int, forecast_days: int) -> list[MarketSpec]:
    """Up to `limit` binary markets from the goal and the seed's stakeholders, goal first.

    The goal itself; a tighter deadline on it (half the horizon); then whether the most prominent
    stakeholders come out in favour. Initial prices start at 0.5 for the goal and lean with the
    stakeholder's seed stance for the others.
    """
    main = as_question(goal)
    core = _AUX.sub("", clean(goal).rstrip(" ?.!"))
    out = [MarketSpec(question=main, initial_price_yes=0.5, rationale="the question asked")]
    half = max(1, forecast_days // 2)
    if _AUX.match(clean(goal)):
        aux = _AUX.match(clean(goal)).group(1).capitalize()  # type: ignore[union-attr]
        out.append(MarketSpec(
            question=as_question(f"{aux} {core} within the first {half} days"), initial_price_yes=0.35,
            rationale="the same outcome on a tighter deadline"))
    for ent in sorted(entities, key=lambda e: (-e.weight, e.entity_id)):
        if len(out) >= limit:
            break
        price = min(0.8, max(0.2, 0.5 + 0.3 * ent.stance))
        out.append(MarketSpec(
            question=as_question(f"Will {ent.name} publicly back the outcome “{shorten(core, 90)}” within {forecast_days} days"),
            initial_price_yes=round(price, 2), rationale=f"stance of {ent.name} in the seed"))
    seen: set[str] = set()
    unique = []
    for m in out:
        if m.question.casefold() not in seen:
            seen.add(m.question.casefold())
            unique.append(m)
    return unique[:limit]
