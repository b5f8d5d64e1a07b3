"""Stakeholders from the seed (docs/engine.md §2, step 1): the deterministic fallback and normalisation.

The LLM extractor (engine/llm) may return entities; whatever their source, they go through
`normalise_entities`, which gives every entity a unique slug id. Two entities with the same display
name stay two entities (ids `name`, `name-2`): duplicates are never merged silently.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import msgspec

from engine.stance import StanceScorer
from engine.text import clean, sentences, shorten, slugify, unique_slug

MAX_ENTITIES = 16


class Entity(msgspec.Struct, kw_only=True):
    """A stakeholder: a person, organisation, faction or viewpoint, with its view of the goal."""

    entity_id: str
    name: str
    type: str
    summary: str
    stance: float = 0.0  # in [-1, 1] toward YES on the goal
    weight: float = 1.0  # prominence in the seed: how many clones it gets in large populations


_CAP_WORD = r"(?:[A-Z][\w'’&.-]*[\w]|[A-Z])"
_PHRASE = re.compile(rf"{_CAP_WORD}(?:\s+(?:of|the|for|de|la|von|van|&)?\s*{_CAP_WORD})*")

# Capitalised words that are not stakeholders on their own (sentence starters, dates, pronouns).
_CAP_STOP: frozenset[str] = frozenset(
    """The A An This That These Those It Its In On At By For From With As If When While After
    Before During Since Until But And Or Nor So Yet However Although Though Because Meanwhile
    Moreover Furthermore Also Still Then Thus Therefore Here There What Which Who Whom Whose Why
    How Will Would Should Could Can May Might Must Is Are Was Were Be Do Does Did Has Have Had
    I We You He She They Our Their His Her My Your Its Mr Mrs Ms Dr Prof Sir St Yes No Not
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April June
    July August September October November December Today Tomorrow Yesterday Some Many Most All
    Each Every Both Few Several One Two Three First Second Third Last Next New According Despite
    Under Over Between Among Against Without Within Across Around About Report Reports Analysts
    Sources Officials Experts Critics Supporters Q1 Q2 Q3 Q4""".split()
)

_TITLES: frozenset[str] = frozenset(
    "Mr Mrs Ms Dr Prof Sir President Senator Minister CEO CFO CTO Chair Chairman Chairwoman Governor "
    "Secretary Director Judge Mayor Chancellor Premier Rep Gen General Commissioner".split()
)

_ORG_HINTS = re.compile(
    r"\b(Inc|Corp|Corporation|Ltd|LLC|Company|Co|Bank|Fund|Group|Holdings|University|Institute|"
    r"Party|Ministry|Department|Agency|Authority|Association|Union|Council|Committee|Commission|"
    r"Board|Court|Parliament|Congress|Senate|Government|Reserve|Federation|Foundation|Labs?|"
    r"Systems|Technologies|Motors|Airlines|Network|News|Times|Post)\b"
)
_PERSON_TITLES = re.compile(r"\b(Mr|Mrs|Ms|Dr|Prof|President|Senator|Minister|CEO|Chair|Governor)\.?\s+$")

# Role words: groups of people a seed talks about without naming them.
ROLE_WORDS: dict[str, str] = {
    "investors": "Investors", "regulators": "Regulators", "voters": "Voters",
    "consumers": "Consumers", "customers": "Customers", "employees": "Employees",
    "workers": "Workers", "unions": "Unions", "analysts": "Analysts", "shareholders": "Shareholders",
    "critics": "Critics", "supporters": "Supporters", "scientists": "Scientists",
    "economists": "Economists", "lawmakers": "Lawmakers", "residents": "Residents",
    "farmers": "Farmers", "students": "Students", "patients": "Patients", "doctors": "Doctors",
    "activists": "Activists", "journalists": "Journalists", "traders": "Traders",
    "developers": "Developers", "users": "Users", "citizens": "Citizens", "competitors": "Competitors",
    "suppliers": "Suppliers", "lenders": "Lenders", "taxpayers": "Taxpayers",
}

ARCHETYPES: tuple[tuple[str, str, float, str], ...] = (
    ("Proponents", "viewpoint", 0.55, "expect the outcome and argue for it"),
    ("Skeptics", "viewpoint", -0.55, "doubt the outcome and look for reasons it fails"),
    ("Neutral Observers", "viewpoint", 0.0, "weigh the evidence without a strong prior"),
    ("Domain Experts", "viewpoint", 0.15, "judge by track records and base rates"),
    ("General Public", "viewpoint", -0.05, "react to news and to what others say"),
)


def _guess_type(name: str, prefix: str) -> str:
    if _ORG_HINTS.search(name):
        return "organization"
    if _PERSON_TITLES.search(prefix):
        return "person"
    words = name.split()
    if len(words) == 1 and name.isupper() and len(name) >= 2:
        return "organization"
    if len(words) in (2, 3) and all(w[:1].isupper() and w[1:].islower() for w in words):
        return "person"
    return "group"


def _scan(seed: str) -> tuple[Counter[str], dict[str, int], dict[str, str]]:
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    types: dict[str, str] = {}
    for match in _PHRASE.finditer(seed):
        words = match.group(0).replace("’", "'").split()
        titled = False
        while words and (words[0] in _CAP_STOP or words[0].rstrip(".") in _TITLES):
            titled = titled or words[0].rstrip(".") in _TITLES
            words = words[1:]
        while words and (words[-1] in _CAP_STOP or words[-1].lower() in {"of", "the", "and", "for", "&"}):
            words = words[:-1]
        name = " ".join(words).strip(" .,'-")
        if name.endswith("'s"):
            name = name[:-2]
        if len(name) < 2 or name in _CAP_STOP or not any(c.isalpha() for c in name):
            continue
        counts[name] += 1
        if name not in first:
            first[name] = match.start()
            types[name] = "person" if titled else _guess_type(name, seed[max(0, match.start() - 12) : match.start()])
    for word, label in ROLE_WORDS.items():
        n = len(re.findall(rf"\b{word}\b", seed, flags=re.IGNORECASE))
        if n and label not in counts:
            counts[label] = n
            first[label] = seed.lower().find(word)
            types[label] = "faction"
    return counts, first, types


def _view(name: str, seed_sentences: list[str], goal: str, scorer: StanceScorer) -> tuple[float, str]:
    mentions = [s for s in seed_sentences if name.lower() in s.lower()]
    if not mentions:
        return 0.0, ""
    stances = [scorer.score(s, goal) for s in mentions[:8]]
    return sum(stances) / len(stances), mentions[0]


def _lean(stance: float) -> str:
    if stance > 0.15:
        return "leans YES"
    if stance < -0.15:
        return "leans NO"
    return "is undecided"


def extract_entities_fallback(seed_text: str, goal: str, scorer: StanceScorer) -> list[Entity]:
    """Deterministic stakeholders: capitalised phrases and role words, ranked by mentions.

    A seed with nothing recognisable still yields generic stakeholder archetypes for the goal.
    """
    seed = clean(seed_text)
    counts, first, types = _scan(seed)
    ranked = sorted(counts, key=lambda n: (-counts[n], first[n], n))[:MAX_ENTITIES]
    seed_sentences = sentences(seed)
    raw: list[dict[str, Any]] = []
    for name in ranked:
        stance, quote = _view(name, seed_sentences, goal, scorer)
        summary = f"{name} ({types[name]}, {counts[name]} mention{'s' if counts[name] > 1 else ''}) {_lean(stance)}"
        if quote:
            summary += f"; the seed says: “{shorten(quote, 160)}”"
        raw.append({"name": name, "type": types[name], "summary": summary, "stance": stance,
                    "weight": float(counts[name])})
    if len(raw) < 2:
        raw.extend(archetype_entities(goal, start=len(raw)))
    return normalise_entities(raw)


def archetype_entities(goal: str, start: int = 0) -> list[dict[str, Any]]:
    """Generic stakeholders for a goal when the seed names none."""
    need = max(2, 5 - start)
    return [
        {"name": name, "type": kind, "stance": stance, "weight": 1.0,
         "summary": f"{name}: {what} on “{shorten(goal, 120)}”"}
        for name, kind, stance, what in ARCHETYPES[:need]
    ]


def normalise_entities(raw: list[dict[str, Any]]) -> list[Entity]:
    """Validate raw entity dicts (from the LLM or the fallback) into Entities with unique slug ids.

    Entries without a usable name are dropped; stance is clamped to [-1, 1]; duplicate names get
    distinct ids instead of being merged.
    """
    taken: set[str] = set()
    out: list[Entity] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        name = clean(str(item.get("name") or ""))[:80]
        if not name:
            continue
        try:
            stance = float(item.get("stance", 0.0) or 0.0)
        except (TypeError, ValueError):
            stance = 0.0
        if stance != stance:  # NaN
            stance = 0.0
        try:
            weight = max(0.1, float(item.get("weight", 1.0) or 1.0))
        except (TypeError, ValueError):
            weight = 1.0
        base = slugify(str(item.get("entity_id") or item.get("id") or name), max_len=40)
        out.append(
            Entity(
                entity_id=unique_slug(base, taken, max_len=45),
                name=name,
                type=clean(str(item.get("type") or "group"))[:40].lower() or "group",
                summary=clean(str(item.get("summary") or item.get("description") or name))[:400],
                stance=max(-1.0, min(1.0, stance)),
                weight=weight if weight == weight else 1.0,
            )
        )
        if len(out) >= 64:
            break
    return out
