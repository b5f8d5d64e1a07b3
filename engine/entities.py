"""Stakeholders from the seed (docs/engine.md, "Reading the seed"): rule-based extraction and normalisation.

`extract_stakeholders` reads the seed's prose (headlines, section headers and datelines removed),
keeps named actors (not objects, products, laws or places standing for nothing), merges aliases
(an acronym, a surname, a short form), types them and scores their salience; how many it keeps
scales with the seed and the population. Whatever their source (these rules or the LLM), entities
go through `normalise_entities`, which gives each a unique slug id: two *distinct* entries with the
same display name stay two entities (`name`, `name-2`); merging is the extractor's job, by alias.
The `Entity` struct itself lives in contracts/artifacts.py (it is written to stakeholders.json).
"""

from __future__ import annotations

import re
from typing import Any

from contracts.artifacts import Entity
from engine.stance import StanceScorer
from engine.text import clean, shorten, slugify, unique_slug

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
    Each Every Both Few Several One Two Three First Second Third Last Next According Despite
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
    r"Systems|Technologies|Motors|Airlines|Network|News|Times|Post|Platforms|Games|Studios|Pharma|Capital|Partners|"
    r"Invest|Shipping|Energy|Industries|Media|Entertainment|Labs|Research|Airport|Hospital|Station)\b"
)
_PERSON_TITLES = re.compile(r"\b(Mr|Mrs|Ms|Dr|Prof|President|Senator|Minister|CEO|Chair|Governor)\.?\s+$")

# Role words: groups of people a seed talks about without naming them.
ROLE_WORDS: dict[str, str] = {
    "investors": "Investors",
    "regulators": "Regulators",
    "voters": "Voters",
    "consumers": "Consumers",
    "customers": "Customers",
    "employees": "Employees",
    "workers": "Workers",
    "unions": "Unions",
    "analysts": "Analysts",
    "shareholders": "Shareholders",
    "critics": "Critics",
    "supporters": "Supporters",
    "scientists": "Scientists",
    "economists": "Economists",
    "lawmakers": "Lawmakers",
    "residents": "Residents",
    "farmers": "Farmers",
    "students": "Students",
    "patients": "Patients",
    "doctors": "Doctors",
    "activists": "Activists",
    "journalists": "Journalists",
    "traders": "Traders",
    "developers": "Developers",
    "users": "Users",
    "citizens": "Citizens",
    "competitors": "Competitors",
    "suppliers": "Suppliers",
    "lenders": "Lenders",
    "taxpayers": "Taxpayers",
}

ARCHETYPES: tuple[tuple[str, str, float, str], ...] = (
    ("Proponents", "viewpoint", 0.55, "expect the outcome and argue for it"),
    ("Skeptics", "viewpoint", -0.55, "doubt the outcome and look for reasons it fails"),
    ("Neutral Observers", "viewpoint", 0.0, "weigh the evidence without a strong prior"),
    ("Domain Experts", "viewpoint", 0.15, "judge by track records and base rates"),
    ("General Public", "viewpoint", -0.05, "react to news and to what others say"),
)


_PUBLIC = re.compile(
    r"\b(Ministry|Department|Agency|Authority|Commission|Council|Parliament|Congress|Senate|House of|Court|"
    r"Government|Administration|Board|Bureau|Regulator|Police|Army|Navy|Treasury|Central Bank|Reserve|"
    r"Federal|National|Legislature|Assembly|Cabinet|Office of|Inspectorate|Tribunal|Municipality|City Council)\b"
)
_GROUPISH = re.compile(
    r"\b(Caucus|Coalition|Bloc|Alliance|Movement|Campaign|Members|Residents|Workers|Voters|"
    r"Fans|Creators|Parents|Families|Group|Faction)\b"
)
# Nouns that make the capitalised phrase before them an object or a product, not an actor.
_OBJECT_NOUNS = frozenset(
    """aircraft jet jets plane planes airliner helicopter helicopters vehicle vehicles truck trucks car cars ship
    ships tanker tankers vessel vessels drone drones phone phones device devices model models engine engines
    rocket rockets satellite satellites software app apps game games film films movie movies trailer trailers
    album song book drug drugs vaccine pill token tokens coin chip chips console consoles flight flights runway
    runways bridge highway pipeline reactor headset lineup series episode franchise""".split()
)
_AFTER_PLACE = re.compile(r"\b(?:in|at|from|to|near)\s+[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)*,\s*$")
# Words after a one-word name that make it the actor of the sentence ("NTSB has", "Meta said").
_ACTOR_VERBS = frozenset(
    """has have had is are was were will would can could may might must should shall does did do said says
    say told tells warned warns argued argues claims claimed announced announces plans planned wants wanted
    expects expected believes believed hopes needs owns holds agrees agreed opposes opposed supports
    supported backs backed insists insisted denies denied confirms confirmed reports reported wrote writes
    and or""".split()
)
_DOCUMENTS = frozenset(
    "Act Bill Law Treaty Directive Regulation Amendment Accord Protocol Convention Charter".split()
)
_LOCATIVE = frozenset(
    "in at from to near across into outside inside off via through around toward towards".split()
)
_SPEECH = re.compile(
    r"\b(said|says|say|argued|argues|warned|warns|told|stated|states|claimed|claims|announced|"
    r"announces|insisted|insists|noted|notes|predicted|predicts|believes|believe|estimated|"
    r"estimates|expects|expect|reported|reports|wrote|writes|added|adds|according to|confirmed|"
    r"confirms|denied|denies|argue|warn|projected|projects|forecast|forecasts)\b",
    re.IGNORECASE,
)
_JOINERS = {"of", "the", "and", "for", "&", "de", "la", "von", "van"}


def _initials(name: str, with_joiners: bool = False) -> str:
    words = [w for w in re.split(r"[\s\-]+", name) if w]
    return "".join(w[0].upper() for w in words if with_joiners or w.lower() not in _JOINERS)


def guess_type(name: str, titled: bool = False) -> str:
    """person, organization, public_body or group, from the name's shape and words."""
    if titled:
        return "person"
    if _PUBLIC.search(name):
        return "public_body"
    if _GROUPISH.search(name):
        return "group"
    if _ORG_HINTS.search(name):
        return "organization"
    words = name.split()
    if len(words) == 1 and name.isupper() and len(name) >= 2:
        return "organization"
    if len(words) in (2, 3) and all(w[:1].isupper() and w[1:].islower() and w.isalpha() for w in words):
        return "person"
    return "organization"


def _headline_line(line: str, first: bool) -> bool:
    letters = [c for c in line if c.isalpha()]
    if not letters:
        return True
    if sum(c.isupper() for c in letters) / len(letters) > 0.7:
        return True  # ALL-CAPS headline or dateline
    stripped = line.rstrip()
    if stripped.endswith(":"):
        return True  # a section header ("Incident details:")
    return first and not stripped.endswith((".", "!", "?", '"', "”")) and len(stripped.split()) <= 16


_DATELINE = re.compile(
    r"^\s*[A-Z][A-Za-z0-9 .,'-]{1,40}(?:\([A-Za-z ]+\))?\s+[—–]\s+|^\s*[A-Z][A-Z .,]{1,30}\s*[—–-]{1,2}\s+"
)
# Acronyms of things and concepts, not actors.
_GENERIC_ACRONYMS = frozenset(
    "AI ML IT TV PC GDP IPO ETF EV EVS VR AR API CPU GPU USD EUR GBP OK PR HR ID CEO CFO "
    "CTO COO NOTAM LLM LLMS AGI SUV Q1 Q2 Q3 Q4 FY PM AM GMT UTC ESG KPI".split()
)


def body_text(seed: str) -> list[str]:
    """The seed's prose lines: headlines, section headers and datelines removed, bullets unwrapped."""
    out: list[str] = []
    seen_text = False
    for raw in seed.splitlines():
        line = raw.strip()
        if not line:
            continue
        if _headline_line(line, not seen_text):
            seen_text = True
            continue
        seen_text = True
        line = re.sub(r"^[-*•·]\s+|^\d+[.)]\s+", "", line)
        m = _DATELINE.match(line)
        if m and len(m.group(0).split()) <= 6:
            line = line[m.end() :]
        out.append(line)
    return out


class _Candidate:
    __slots__ = (
        "name",
        "mentions",
        "first",
        "titled",
        "object_uses",
        "place_uses",
        "subject_uses",
        "aliases",
        "inner_uses",
        "personal",
    )

    def __init__(self, name: str, first: int) -> None:
        self.name, self.first = name, first
        self.mentions = self.object_uses = self.place_uses = self.subject_uses = 0
        self.titled = self.personal = False
        self.inner_uses = 0  # mentions not at the start of a sentence
        self.aliases: list[str] = []


def _scan(lines: list[str]) -> tuple[dict[str, _Candidate], dict[str, str]]:
    """Candidate names with how they are used, and explicit aliases from "Name (ACR)"."""
    text = "\n".join(lines)
    lower_words = set(re.findall(r"(?<![.!?]\s)(?<!^)\b([a-z][a-z'-]+)\b", text))
    cands: dict[str, _Candidate] = {}
    explicit: dict[str, str] = {}
    for m in re.finditer(r"([A-Z][\w&'.\- ]{3,80}?)\s+\(([A-Z][A-Za-z&.]{1,9})\)", text):
        full = m.group(1).split(". ")[-1]
        full_words = full.split()
        acr = m.group(2).replace(".", "")
        for k in range(len(full_words)):
            tail = " ".join(full_words[k:])
            if _initials(tail) == acr.upper() or _initials(tail, True) == acr.upper():
                explicit[acr] = tail
                break
    pos = 0
    for line in lines:
        for match in _pieces(line):
            words = match.group(0).replace("’", "'").split()
            start = match.start()
            titled = match.titled
            sentence_start = start == 0 or bool(re.search(r"[.!?:;\"“(]\s*$", line[:start]))
            while words and (
                words[0] in _CAP_STOP or words[0].rstrip(".") in _TITLES or words[0] in _JOINERS
            ):
                titled = titled or words[0].rstrip(".") in _TITLES
                words = words[1:]
                sentence_start = False
            if sentence_start and words and words[0].lower() in lower_words and not words[0].isupper():
                words = words[1:]  # a common word capitalised because it starts the sentence
            while words and (words[-1] in _CAP_STOP or words[-1].lower() in _JOINERS):
                words = words[:-1]
            if words:
                start += max(0, match.group(0).replace("’", "'").find(words[0]))
            if words and re.fullmatch(r"[\w.]+-(?:based|led|owned|backed)", words[0]):
                words = words[1:]  # "Berlin-based Aleph Alpha" -> Aleph Alpha
            name = " ".join(words).strip(" .,'-")
            if name.endswith("'s"):
                name = name[:-2]
            if len(name) < 2 or name in _CAP_STOP or not any(c.isalpha() for c in name):
                continue
            if len(words) == 1 and name.lower() in lower_words and not name.isupper():
                continue  # a common word in capitals (a heading word), not a name
            while len(words) > 1 and words[-1].lower() in _OBJECT_NOUNS:
                words = words[:-1]  # "Air Canada Express Flight" -> the operator
                name = " ".join(words)
            if (
                re.fullmatch(r"[\d\W]+", name)
                or (name.isupper() and len(name) > 6 and " " not in name)
                or name.upper() in _GENERIC_ACRONYMS
            ):
                continue
            cand = cands.get(name)
            if cand is None:
                cand = cands[name] = _Candidate(name, pos + start)
            cand.mentions += 1
            cand.titled = cand.titled or titled
            before = re.findall(r"[A-Za-z]+", line[:start])[-1:]
            after = re.findall(r"[A-Za-z]+", line[match.end() :])[:2]
            if (
                re.search(r"\d", name)
                and re.search(r"[A-Za-z]", name)
                and not name.isupper()
                or (before and before[0].lower() in ("a", "an"))
                or any(a.lower() in _OBJECT_NOUNS for a in after[:1])
                or words[0] == "Flight"
                or (
                    len(words) == 1
                    and re.search(r"(ian|ean|ese|ish)$", name)
                    and after
                    and line[match.end() : match.end() + 1] == " "
                    and after[0].islower()
                )
            ):
                cand.object_uses += 1
            elif before and before[0].lower() in _LOCATIVE or _AFTER_PLACE.search(line[:start]):
                cand.place_uses += 1  # "in Montreal", and "from Montreal, Quebec"
            elif (
                len(words) == 1
                and after
                and line[match.end() : match.end() + 1] == " "
                and after[0].islower()
                and after[0] not in _ACTOR_VERBS
                and not after[0].endswith(("ed", "ly"))
                and not match.group(0).endswith(("'s", "’s"))
            ):
                cand.object_uses += 1  # a modifier: "US flights", "Bitcoin price", not "NTSB has ..."
            if _SPEECH.match(line[match.end() :].strip()) or sentence_start:
                cand.subject_uses += 1
            if not sentence_start:
                cand.inner_uses += 1
            if len(words) in (2, 3) and re.match(
                r"\s*(?:,\s*)?(?:said|says|told|argued|warned|wrote)\b|\W{0,3}\s*(?:\w+\s+){0,8}?(?:he|she|his|her)\b",
                line[match.end() : match.end() + 60],
            ):
                cand.personal = True
        pos += len(line) + 1
    return cands, explicit


class _Piece:
    """A part of a capitalised phrase (split at inner titles and possessives)."""

    def __init__(self, text: str, start: int, titled: bool = False) -> None:
        self.text, self._start, self.titled = text, start, titled

    def group(self, _: int = 0) -> str:
        return self.text

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._start + len(self.text)


def _pieces(line: str) -> list[_Piece]:
    """Capitalised phrases, split where a title or a possessive sits inside one
    ("Microsoft CEO Satya Nadella" -> "Microsoft", "Satya Nadella")."""
    out: list[_Piece] = []
    for m in _PHRASE.finditer(line):
        text, start = m.group(0), m.start()
        parts = re.split(
            r"('s\s+|’s\s+|\s+(?:CEO|CFO|CTO|COO|Chair|Chairman|Chairwoman|President|Director|chief)\s+)",
            text,
        )
        offset = 0
        for k, part in enumerate(parts):
            if k % 2 == 0 and part.strip():
                titled = k > 0 and "'" not in parts[k - 1] and "’" not in parts[k - 1]
                out.append(_Piece(part, start + offset, titled))
            offset += len(part)
    return out


def _merge(cands: dict[str, _Candidate], explicit: dict[str, str]) -> dict[str, _Candidate]:
    """Merge aliases into one entity: acronyms, surnames, short forms of organisation names."""
    target: dict[str, str] = {}
    names = sorted(cands, key=lambda n: (-len(n), n))
    for name in names:
        if name in explicit and explicit[name] in cands:
            target[name] = explicit[name]
            continue
        if name.isupper() and 2 <= len(name) <= 6:
            for other in names:
                if other != name and " " in other and name in (_initials(other), _initials(other, True)):
                    target[name] = other
                    break
            continue
        if " " not in name:
            for other in names:
                words = other.split()
                if other == name or len(words) < 2:
                    continue
                person = guess_type(other, cands[other].titled) == "person"
                namesakes = sum(1 for o in names if o != name and o.split()[-1] == name)
                if (
                    (person and words[-1] == name and namesakes == 1)
                    or (words[0] == name and len(words) == 2 and _ORG_HINTS.search(words[1]))
                    or (
                        not person and words[-1] == name and (_PUBLIC.search(name) or _ORG_HINTS.search(name))
                    )
                ):
                    target[name] = other
                    break
    out: dict[str, _Candidate] = {}
    for name in sorted(cands, key=lambda n: cands[n].first):
        root = name
        while root in target:
            root = target[root]
        c = cands[name]
        if root == name:
            out.setdefault(root, c)
            continue
        r = out.get(root) or cands[root]
        out[root] = r
        r.mentions += c.mentions
        r.object_uses += c.object_uses
        r.place_uses += c.place_uses
        r.subject_uses += c.subject_uses
        r.first = min(r.first, c.first)
        r.titled = r.titled or c.titled
        r.inner_uses += c.inner_uses
        r.aliases.append(name)
    return out


def stakeholder_limit(n_words: int, agents: int) -> int:
    """How many stakeholders a seed of n_words supports, for a population of `agents` (no fixed cap)."""
    by_seed = 8 + n_words // 40
    return int(max(2, min(by_seed, max(2, agents), 64)))


def extract_stakeholders(seed_text: str, goal: str, agents: int = 1000) -> list[Entity]:
    """Named stakeholders (aliases merged, typed, with salience); no headlines, fragments or objects.

    Stance is left at 0 here: engine.reading sets it from the claims each stakeholder asserts.
    """
    lines = body_text(seed_text)
    cands, explicit = _scan(lines)
    merged = _merge(cands, explicit)
    body = "\n".join(lines)
    scored: list[tuple[float, _Candidate, str]] = []
    for name, c in merged.items():
        if name.split()[-1] in _DOCUMENTS:
            continue  # a law or a treaty is what stakeholders argue about, not one of them
        if c.inner_uses == 0 and " " not in name and not name.isupper():
            continue  # a word that is capitalised only because it starts sentences
        in_goal = any(
            re.search(rf"(?<![\w-]){re.escape(a)}(?![\w-])", goal, flags=0 if a.isupper() else re.IGNORECASE)
            for a in [name, *c.aliases]
        )
        if not in_goal and (
            c.object_uses * 2 > c.mentions
            or (c.place_uses == c.mentions and not _ORG_HINTS.search(name) and not _PUBLIC.search(name))
        ):
            continue  # an object, a product, or a place standing for nothing (unless the question is about it)
        kind = guess_type(name, c.titled)
        if kind == "organization" and " " not in name and not name.isupper() and (c.personal or c.titled):
            kind = "person"
        if kind == "person" and not (
            c.titled or c.personal or any(" " not in a and not a.isupper() for a in c.aliases)
        ):
            kind = "organization"  # two capitalised words are a person only with some evidence
        score = c.mentions + 0.5 * c.subject_uses + (3.0 if in_goal else 0.0)
        scored.append((score, c, kind))
    for word, label in ROLE_WORDS.items():
        n = len(re.findall(rf"\b{word}\b", body, flags=re.IGNORECASE))
        if n and not any(re.search(rf"\b{label}\b", c.name, re.IGNORECASE) for _, c, _ in scored):
            c = _Candidate(label, body.lower().find(word))
            c.mentions = n
            scored.append((0.75 * n, c, "group"))
    scored.sort(key=lambda x: (-x[0], x[1].first, x[1].name))
    limit = stakeholder_limit(len(body.split()), agents)
    kept = scored[:limit]
    top = max((s for s, _, _ in kept), default=1.0)
    raw: list[dict[str, Any]] = []
    for score, c, kind in kept:
        raw.append(
            {
                "name": c.name,
                "type": kind,
                "aliases": sorted(set(c.aliases)),
                "summary": f"{c.name} ({kind.replace('_', ' ')}, {c.mentions} mention{'s' if c.mentions != 1 else ''})",
                "stance": 0.0,
                "weight": float(c.mentions),
                "salience": round(score / top, 4),
            }
        )
    return normalise_entities(raw)


def lean(stance: float) -> str:
    """The stance in words."""
    if stance > 0.15:
        return "leans YES"
    if stance < -0.15:
        return "leans NO"
    return "is undecided"


def extract_entities_fallback(
    seed_text: str, goal: str, scorer: StanceScorer | None = None, agents: int = 1000
) -> list[Entity]:
    """Deterministic stakeholders with their stance from the claims they assert (engine.reading).

    A seed with nothing recognisable still yields generic stakeholder archetypes for the goal.
    """
    from engine.reading import read_seed_rules  # reading builds on this module

    return read_seed_rules(seed_text, goal, agents=agents).entities


def archetype_entities(goal: str, start: int = 0) -> list[dict[str, Any]]:
    """Generic stakeholders for a goal when the seed names none."""
    need = max(2, 5 - start)
    return [
        {
            "name": name,
            "type": kind,
            "stance": stance,
            "weight": 1.0,
            "summary": f"{name}: {what} on “{shorten(goal, 120)}”",
        }
        for name, kind, stance, what in ARCHETYPES[:need]
    ]


def _unit(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, min(1.0, x)) if x == x else 0.0


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
                aliases=[
                    clean(str(a))[:80] for a in (item.get("aliases") or []) if isinstance(a, str) and clean(a)
                ][:8],
                salience=_unit(item.get("salience", 0.0)),
            )
        )
        if len(out) >= 64:
            break
    return out
