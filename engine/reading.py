"""Reading the seed (docs/engine.md, "Reading the seed"): proposition, stakeholders and claims.

Done once per job and shared by every agent. Without a model it is rule-based and CPU-only
(engine/proposition.py, engine/entities.py, engine/claims.py; no model downloads). With a model,
engine/llm/extraction.py asks for the same document as strict JSON and `from_llm` validates it;
anything unusable falls back to the rules, claim by claim and stakeholder by stakeholder.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from engine.claims import Claim, read_claims, schedule_arrivals
from engine.entities import (
    Entity,
    archetype_entities,
    body_text,
    extract_stakeholders,
    lean,
    normalise_entities,
)
from engine.proposition import Proposition, parse_proposition
from engine.text import clean, shorten


class SeedReading(msgspec.Struct, kw_only=True):
    """What the swarm read: the proposition, the stakeholders and the claims."""

    proposition: Proposition
    entities: list[Entity]
    claims: list[Claim]
    source: Literal["rules", "llm"] = "rules"


def with_stances(entities: list[Entity], claims: list[Claim]) -> list[Entity]:
    """Each stakeholder's stance: the strength-weighted mean stance of the claims it asserts (twice the
    weight) or is the subject of; its summary names the claims."""
    out = []
    for e in entities:
        num = den = 0.0
        own: list[Claim] = []
        for c in claims:
            w = 2.0 if c.source_id == e.entity_id else (1.0 if e.entity_id in c.mentions else 0.0)
            if w and c.strength > 0:
                num += w * c.strength * (1 if c.stance > 0 else -1)
                den += w
                if c.source_id == e.entity_id:
                    own.append(c)
        stance = e.stance if den == 0 else max(-1.0, min(1.0, num / den))
        summary = e.summary
        if den:
            summary = f"{e.name} ({e.type.replace('_', ' ')}) {lean(stance)}"
            if own:
                summary += "; it says: " + " / ".join(f"“{shorten(c.text, 120)}”" for c in own[:2])
        out.append(msgspec.structs.replace(e, stance=round(stance, 4), summary=summary[:400]))
    return out


def read_seed_rules(seed_text: str, goal: str, *, agents: int = 1000, rounds: int = 20) -> SeedReading:
    """The rule-based reading: deterministic, CPU-only."""
    prop = parse_proposition(goal)
    lines = body_text(seed_text)
    entities = extract_stakeholders(seed_text, goal, agents=agents)
    claims = schedule_arrivals(read_claims(lines, prop, entities), rounds)
    entities = with_stances(entities, claims)
    if len(entities) < 2:
        entities = normalise_entities(
            [msgspec.to_builtins(e) for e in entities] + archetype_entities(goal, start=len(entities))
        )
    return SeedReading(proposition=prop, entities=entities, claims=claims)


def _num(value: Any, lo: float, hi: float, default: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return default
    return max(lo, min(hi, x)) if x == x else default


def from_llm(
    doc: dict[str, Any], seed_text: str, goal: str, *, agents: int, rounds: int
) -> SeedReading | None:
    """A SeedReading from the LLM's JSON (already schema-checked), or None when it is unusable.

    The proposition's polarity comes from the LLM when it says so, else from the rules; claims
    keep the LLM's direction toward the *positive* proposition and are turned toward the question
    as asked here, so a negated question is handled the same way on both paths.
    """
    rules_prop = parse_proposition(goal)
    p = doc.get("proposition") or {}
    polarity = -1 if p.get("negated") is True else (1 if p.get("negated") is False else rules_prop.polarity)
    statement = clean(str(p.get("statement") or "")) or rules_prop.statement
    prop = msgspec.structs.replace(
        rules_prop,
        polarity=polarity,
        statement=statement[:300],
        subject=clean(str(p.get("subject") or rules_prop.subject))[:120],
    )
    raw_entities = []
    for s in doc.get("stakeholders") or []:
        if not isinstance(s, dict) or not clean(str(s.get("name") or "")):
            continue
        raw_entities.append(
            {
                "name": s["name"],
                "type": s.get("type") or "organization",
                "aliases": s.get("aliases") or [],
                "salience": _num(s.get("salience"), 0, 1, 0.5),
                "weight": 1.0 + 9.0 * _num(s.get("salience"), 0, 1, 0.5),
                "summary": s.get("wants") or s.get("summary") or s["name"],
                "stance": 0.0,
            }
        )
    entities = normalise_entities(raw_entities)
    if len(entities) < 2:
        return None
    by_name: dict[str, Entity] = {}
    for e in entities:
        for n in (e.name, *e.aliases):
            by_name[n.casefold()] = e
    claims: list[Claim] = []
    for k, c in enumerate(doc.get("claims") or [], start=1):
        if not isinstance(c, dict) or not clean(str(c.get("text") or "")):
            continue
        direction = _num(c.get("direction"), -1, 1, 0.0)
        strength = _num(c.get("strength"), 0, 1, abs(direction))
        src = by_name.get(clean(str(c.get("source") or "")).casefold())
        text = clean(str(c["text"]))[:400]
        mentions = [
            e.entity_id
            for e in entities
            if any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text) for n in (e.name, *e.aliases))
        ]
        stance = direction * polarity
        label: Literal["for", "against", "neutral"] = (
            "neutral" if strength * abs(direction) < 0.1 else ("for" if stance > 0 else "against")
        )
        claims.append(
            Claim(
                claim_id=f"c{len(claims) + 1}",
                text=text,
                source_id=src.entity_id if src else "",
                source=src.name if src else "the seed",
                mentions=mentions,
                direction=round(direction, 4),
                stance=round(stance, 4),
                strength=round(strength * abs(direction), 4),
                label=label,
                order=int(_num(c.get("order"), 0, 10_000, k)),
                date=clean(str(c.get("date") or ""))[:40],
                date_key=int(_num(re.sub(r"\D", "", str(c.get("date") or ""))[:8] or 0, 0, 99_991_231, 0)),
                reasons=["read by the model"],
            )
        )
    if not claims:
        return None
    claims = schedule_arrivals(claims, rounds)
    return SeedReading(proposition=prop, entities=with_stances(entities, claims), claims=claims, source="llm")


def reading_for_question(reading: SeedReading, question: str) -> SeedReading:
    """The same reading for another phrasing of the question (polarity re-applied to every claim)."""
    prop = parse_proposition(question)
    claims = [
        msgspec.structs.replace(c, stance=round(c.direction * prop.polarity, 4)) for c in reading.claims
    ]
    return SeedReading(
        proposition=prop,
        entities=with_stances(reading.entities, claims),
        claims=claims,
        source=reading.source,
    )


async def read_seed(seed_text: str, goal: str, *, agents: int, rounds: int, llm: Any = None) -> SeedReading:
    """The reading of a job: by the model when one is configured and answers usably, else the rules."""
    if llm is not None and hasattr(llm, "read_seed"):
        doc = await llm.read_seed(seed_text, goal)
        if doc:
            reading = from_llm(doc, seed_text, goal, agents=agents, rounds=rounds)
            if reading is not None:
                return reading
    return read_seed_rules(seed_text, goal, agents=agents, rounds=rounds)
