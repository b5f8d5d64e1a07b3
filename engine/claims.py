"""Claims: the seed's statements that bear on the proposition, read from facts rather than tone.

Each sentence of the seed's prose is read against the proposition A (engine/proposition.py) with
generic rules, none specific to one job:

* **numbers against thresholds**: "Brent closed at $95" against "above $120" is evidence against;
  a percentage against a percentage threshold likewise;
* **counts against a majority or a stated requirement**: "only 9 of 31 members back it" is 29%
  support, below half, so it reads as against passage; "needs 60 votes" plus "52 senators support
  it" reads as against;
* **progress and obstacle language** (agreed, approved, on track / collapsed, stalled, rejected,
  delayed), oriented by the proposition's own event ("delayed" is evidence FOR "Will the EU delay
  X?"), and rising/falling language oriented by the direction of its threshold;
* **the event itself** stated or negated ("has no plans to order new rules");
* **probability language** ("likely", "doubt", "no chance") as a weak signal.

Every cue is flipped by a negation that governs it ("did not approve", "failed to agree", "no
sign of a deal"). Sentiment (VADER) plays no part: upbeat words about a shortfall stay a shortfall.
Directions are toward A; engine.reading turns them toward the question as asked (its polarity).
"""

from __future__ import annotations

import math
import re
from typing import Literal

import msgspec

from contracts.artifacts import Claim, Entity
from engine.proposition import NUMBER, Proposition, parse_number, stem
from engine.stance import StanceScorer


def _stems(words: list[str]) -> frozenset[str]:
    """The words as written (they are stems already) and their stems, so a token's stem matches."""
    return frozenset(words) | frozenset(stem(w) for w in words)


# Stems (engine.proposition.stem) of progress and obstacle words: generic, any domain.
PROGRESS: frozenset[str] = _stems(
    """agree agreed approv pass sign ratif breakthrough progress back backs support endors secur reach clear
    resum complet launch commit improv greenlit greenlight adopt accept confirm finaliz finalis settl succeed
    succes win won ready boost expand accelerat advanc unanim""".split()
)
OBSTACLE: frozenset[str] = _stems(
    """collaps stall reject block delay postpon oppos veto suspend cancel shortfall fail halt freez boycott
    impasse deadlock disput resist withdraw withdrew scrap lawsuit injunction sued refus obstacl setback
    derail stalemat abandon miss lost lose shelv walkout quit resign objection hurdle against""".split()
)
RISING: frozenset[str] = _stems(
    "rise rose risen surg soar jump gain climb rall increas higher record exceed beat strong boom".split()
)
FALLING: frozenset[str] = _stems(
    "fall fell fallen drop declin plung slump slip sank sink lower weak tumbl crash decreas shrink shrank".split()
)
SUPPORT_VERBS: frozenset[str] = _stems(
    "back support favour favor endors approv accept ratif sign agree vote_for join pledg commit".split()
)
OPPOSE_VERBS: frozenset[str] = frozenset(
    "oppos reject against block refus resist boycott vote_against".split()
)
NEGATORS: frozenset[str] = frozenset(
    "not no never n't without nor cannot can't won't didn't doesn't don't isn't wasn't aren't weren't hasn't "
    "haven't fail failed fails refus refused unable lack lacks lacked".split()
)
HEDGES: frozenset[str] = frozenset("only just merely barely mere scarcely".split())
MODALS: frozenset[str] = frozenset("could might may would possibly perhaps".split())
_MONTHS = ("january february march april may june july august september october november december").split()
_DATE = re.compile(
    r"\b(?:(\d{4})-(\d{2})-(\d{2})|("
    + "|".join(m.capitalize() for m in _MONTHS)
    + r"|"
    + "|".join(m[:3].capitalize() for m in _MONTHS)
    + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,\s*(\d{4}))?"
    r"|(\d{1,2})\s+(" + "|".join(m.capitalize() for m in _MONTHS) + r")(?:\s+(\d{4}))?"
    r"|(?:in|since|during|by)\s+(" + "|".join(m.capitalize() for m in _MONTHS) + r")\s+(\d{4}))\b"
)
_FRACTION = re.compile(
    r"\b(\d[\d,]*)\s+(?:of|out of|in)\s+(?:the\s+|its\s+|their\s+)?(\d[\d,]*)\b", re.IGNORECASE
)
_REQUIRED = re.compile(
    r"\b(?:needs?|requires?|required|requiring|threshold of|majority of|at least)\s+"
    r"(?:a\s+)?(?:at least\s+)?(\d[\d,]*)\b",
    re.IGNORECASE,
)
_COUNT_SUPPORT = re.compile(
    r"\b(\d[\d,]*)\s+(?:[a-z]+\s+){0,3}?(?:have\s+|has\s+)?(?:publicly\s+)?"
    r"(back|support|favou?r|endorse|sign|approve|oppose|reject)",
    re.IGNORECASE,
)
_CHANGE_OR_BASELINE = frozenset(
    "rose rise risen fell fall fallen up down grew increased decreased dropped by gained lost jumped climbed "
    "slipped against versus vs compared from than while".split()
)
_TOKEN = re.compile(r"[a-z][a-z']*|\d[\d,.]*%?")
_STANCE = StanceScorer()  # for its probability-language reader only (no sentiment is used here)


def _date(text: str) -> tuple[str, int]:
    m = _DATE.search(text)
    if not m:
        return "", 0
    g = m.groups()
    if g[0]:
        return m.group(0), int(g[0]) * 10000 + int(g[1]) * 100 + int(g[2])
    if g[3]:
        month = [x[:3] for x in _MONTHS].index(g[3][:3].lower()) + 1
        return m.group(0), int(g[5] or 0) * 10000 + month * 100 + int(g[4])
    if g[6]:
        month = _MONTHS.index(g[7].lower()) + 1
        return m.group(0), int(g[8] or 0) * 10000 + month * 100 + int(g[6])
    month = _MONTHS.index(g[9].lower()) + 1
    return m.group(0), int(g[10]) * 10000 + month * 100


def _negated(tokens: list[str], i: int) -> bool:
    """A negator within the three tokens before tokens[i] (a clause boundary stops the look-back)."""
    for tok in reversed(tokens[max(0, i - 3) : i]):
        if tok in (",", ";", "but", "while", "although", "yet"):
            return False
        if tok in NEGATORS or stem(tok) in NEGATORS or tok.endswith("n't"):
            return True
    return False


class _Event:
    """What the proposition's event is about: its stems, and how cue families orient toward it."""

    def __init__(self, prop: Proposition) -> None:
        self.prop = prop
        self.stems = set(prop.keywords)
        event_stems = {stem(w) for w in re.findall(r"[a-z']+", prop.statement.lower())}
        obstacle_event = bool(event_stems & OBSTACLE)
        # progress language points to A unless A is itself an obstacle ("Will X delay / collapse?")
        self.progress = -1.0 if obstacle_event else 1.0
        falling_event = bool(event_stems & FALLING) or any(t.op == "<" for t in prop.thresholds)
        rising_event = bool(event_stems & RISING) or any(t.op == ">" for t in prop.thresholds)
        self.rising = -1.0 if falling_event and not rising_event else (1.0 if rising_event else 0.0)
        first = re.findall(r"[a-z']+", prop.event.lower())[:1]
        quantity = bool(prop.thresholds) or self.rising != 0.0
        # the event's own verb stated or negated; not for a quantity ("close above $120"), where the
        # numbers decide and the verb is ambiguous
        self.verbs = [stem(first[0])] if first and stem(first[0]) in self.stems and not quantity else []


def _threshold_signal(sentence: str, prop: Proposition, reasons: list[str]) -> float:
    total = 0.0
    for m in re.finditer(NUMBER, sentence):
        value, unit = parse_number(m.group(1), m.group(2), m.group(3))
        if unit == "" and 1900 <= value <= 2100 and "." not in m.group(2):
            continue  # a year
        before = re.findall(r"[a-z]+", sentence[max(0, m.start() - 24) : m.start()].lower())[-2:]
        if any(b in _CHANGE_OR_BASELINE for b in before):
            continue  # a change ("rose 20%") or a baseline ("against 36%"), not the level itself
        tail = sentence[m.end() : m.end() + 14].lower()
        if re.match(r"\s*(?:of|out of)\s+\d", tail):
            continue  # a count "9 of 31", read by the fraction rule
        for t in prop.thresholds:
            if t.unit != unit or (t.unit != "%" and not 0.1 <= value / max(t.value, 1e-9) <= 10):
                continue  # another kind of number, or another order of magnitude (not the same quantity)
            gap = (value - t.value) / max(abs(t.value), 1e-9)
            ok = value > t.value if t.op == ">" else value < t.value
            size = min(1.0, 0.5 + 3.0 * abs(gap))
            total += size if ok else -size
            reasons.append(
                f"{m.group(0).strip()} {'meets' if ok else 'misses'} '{t.phrase or t.op + str(t.value)}'"
            )
    return total


def _group_sign(after: str) -> tuple[float, str]:
    """+1 when the counted group backs the thing, -1 when it opposes it (negations flip)."""
    toks = _TOKEN.findall(after.lower())[:8]
    for i, tok in enumerate(toks):
        s = stem(tok)
        if tok == "against" or s in OPPOSE_VERBS:
            return (1.0 if _negated(toks, i) else -1.0), tok
        if s in SUPPORT_VERBS or (tok == "for" and i > 0 and toks[i - 1] == "vote"):
            return (-1.0 if _negated(toks, i) else 1.0), tok
    return 1.0, ""


def _count_signal(
    sentence: str, prop: Proposition, required: float | None, orient: float, reasons: list[str]
) -> float:
    total = 0.0
    ref = next((t.value / 100.0 for t in prop.thresholds if t.unit == "%"), 0.5)
    for m in _FRACTION.finditer(sentence):
        part, whole = float(m.group(1).replace(",", "")), float(m.group(2).replace(",", ""))
        if whole <= 0 or part > whole or whole in range(1900, 2101):
            continue
        sign, verb = _group_sign(sentence[m.end() :])
        f = part / whole
        gap = f - ref
        total += orient * sign * math.copysign(min(1.0, 0.4 + abs(gap) / 0.15), gap)
        reasons.append(
            f"{m.group(1)} of {m.group(2)} = {f:.0%} {'above' if gap > 0 else 'below'} {ref:.0%}"
            + (f" ({verb})" if verb else "")
        )
    if required:
        for m in _COUNT_SUPPORT.finditer(sentence):
            count = float(m.group(1).replace(",", ""))
            if count == required or _FRACTION.search(sentence[max(0, m.start() - 12) : m.end()]):
                continue
            sign = -1.0 if stem(m.group(2).lower()) in OPPOSE_VERBS else 1.0
            gap = (count - required) / required
            total += orient * sign * math.copysign(min(1.0, 0.5 + 3 * abs(gap)), gap)
            reasons.append(f"{m.group(1)} {m.group(2)} vs {required:g} needed")
    return total


_DETERMINER = frozenset("a an the any its this that their his her no".split())


def _cue_signal(
    tokens: list[str], ev: _Event, overlap: int, reasons: list[str], counted: bool = False
) -> tuple[float, int]:
    total, hits = 0.0, 0
    quantity = bool(ev.prop.thresholds) or ev.rising != 0.0
    # progress/obstacle words say nothing about a price or a count; off-topic ones say little
    generic = 0.0 if quantity else (0.6 if overlap else 0.3)
    for i, tok in enumerate(tokens):
        s = stem(tok)
        if counted and (s in SUPPORT_VERBS or s in OPPOSE_VERBS or tok == "against"):
            continue  # the verb of a count ("9 of 31 back it") was read with the count
        if s in ev.verbs:
            if i and tokens[i - 1] in _DETERMINER and tokens[i - 1] != "no":
                continue  # the noun ("a ban"), not the event happening
            val, why = 0.8, f"states '{tok}'"
        elif generic and (s in PROGRESS or tok in PROGRESS):
            val, why = generic * ev.progress, f"progress '{tok}'"
        elif generic and (s in OBSTACLE or tok in OBSTACLE):
            val, why = -generic * ev.progress, f"obstacle '{tok}'"
        elif ev.rising and (s in RISING or tok in RISING):
            val, why = (0.5 if overlap else 0.15) * ev.rising, f"rising '{tok}'"  # of what? on topic or not
        elif ev.rising and (s in FALLING or tok in FALLING):
            val, why = -(0.5 if overlap else 0.15) * ev.rising, f"falling '{tok}'"
        else:
            continue
        if _negated(tokens, i):
            val, why = -val, "negated " + why
        if any(t in MODALS for t in tokens[max(0, i - 3) : i]):
            val *= 0.6
        total += val
        hits += 1
        reasons.append(why)
    return total, hits


def read_direction(
    sentence: str, prop: Proposition, required: float | None = None
) -> tuple[float, float, list[str]]:
    """(direction toward A in [-1, 1], relevance in [0, 1], reasons) of one sentence."""
    ev = _Event(prop)
    reasons: list[str] = []
    tokens = _TOKEN.findall(sentence.lower().replace("’", "'"))
    stems = {stem(t) for t in tokens}
    overlap = len(stems & ev.stems)
    relevance = min(1.0, 0.35 + 0.25 * overlap)
    raw = _threshold_signal(sentence, prop, reasons)
    counts = _count_signal(sentence, prop, required, ev.progress, reasons)
    raw += counts
    if reasons:
        relevance = max(relevance, 0.8)  # a number read against the question's own threshold is on topic
    cues, _ = _cue_signal(tokens, ev, overlap, reasons, counted=counts != 0.0)
    raw += cues
    likelihood = _STANCE.likelihood(sentence)
    if abs(likelihood) > 0.2:
        raw += (0.5 if overlap else 0.25) * likelihood  # off-topic hedges say less
        reasons.append(f"probability language {likelihood:+.2f}")
    direction = math.tanh(raw)
    return direction, relevance, reasons


def seed_requirement(text: str) -> float | None:
    """A required count stated anywhere in the seed ("needs 60 votes"), if any."""
    m = _REQUIRED.search(text)
    if not m:
        return None
    value = float(m.group(1).replace(",", ""))
    return value if value > 1 else None


def _who(sentence: str, entities: list[Entity]) -> tuple[str, str, list[str]]:
    """(source id, source name, mentioned ids): the stakeholder who asserts the sentence, if named."""
    mentions: list[tuple[int, int, Entity]] = []
    for e in entities:
        best, size = -1, 0
        for name in (e.name, *e.aliases):
            m = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sentence)
            if m and (best < 0 or m.start() < best):
                best, size = m.start(), len(name)
        if best >= 0:
            mentions.append((best, -size, e))
    mentions.sort(key=lambda x: (x[0], x[1]))  # at the same place, the longest name ("Taxpayers Alliance")
    ids = [e.entity_id for _, _, e in mentions]
    speech = re.search(
        r"\b(said|says|argued|argues|warned|warns|told|stated|claimed|claims|announced|insisted|"
        r"noted|predicted|believes|estimated|estimates|expects|reported|wrote|added|confirmed|"
        r"denied|according to)\b",
        sentence,
        re.IGNORECASE,
    )
    if speech and mentions:
        if speech.group(1).lower() == "according to":
            after = [(p, e) for p, _, e in mentions if p > speech.start()]
            src = after[0][1] if after else mentions[-1][2]
        else:
            before = [(p, e) for p, _, e in mentions if p < speech.start()]
            src = before[-1][1] if before else mentions[0][2]
        return src.entity_id, src.name, ids
    if mentions and mentions[0][0] <= 40:
        return mentions[0][2].entity_id, mentions[0][2].name, ids
    return "", "the seed", ids


def read_claims(
    lines: list[str], prop: Proposition, entities: list[Entity], max_claims: int = 120
) -> list[Claim]:
    """The claims of the seed's prose lines, in order, each with source, direction and strength."""
    from engine.text import sentences

    text = "\n".join(lines)
    required = seed_requirement(text)
    out: list[Claim] = []
    order = 0
    for line in lines:
        for sent in sentences(line):
            if sent.endswith("?") or len(sent.split()) < 4:
                continue
            direction, relevance, reasons = read_direction(sent, prop, required)
            source_id, source, ids = _who(sent, entities)
            if abs(direction) < 0.05 and relevance < 0.6 and not ids:
                continue
            date, key = _date(sent)
            order += 1
            stance = direction * prop.polarity
            strength = round(min(1.0, abs(direction) * relevance / 0.85), 4)
            label: Literal["for", "against", "neutral"] = (
                "neutral" if strength < 0.1 else ("for" if stance > 0 else "against")
            )
            out.append(
                Claim(
                    claim_id=f"c{order}",
                    text=sent[:400],
                    source_id=source_id,
                    source=source,
                    mentions=ids,
                    direction=round(direction, 4),
                    stance=round(stance, 4),
                    strength=strength,
                    label=label,
                    order=order,
                    date=date,
                    date_key=key,
                    reasons=reasons[:6],
                )
            )
            if len(out) >= max_claims:
                return out
    return out


def schedule_arrivals(claims: list[Claim], rounds: int) -> list[Claim]:
    """Later-dated claims enter the world later: the dated claims' distinct dates are spread over the
    first half of the run (the earliest at round 0); undated claims are known from the start."""
    keys = sorted({c.date_key for c in claims if c.date_key})
    if len(keys) < 2:
        return [msgspec.structs.replace(c, arrival_round=0) for c in claims]
    span = max(0, rounds // 2)
    rank = {k: i / (len(keys) - 1) for i, k in enumerate(keys)}
    return [
        msgspec.structs.replace(c, arrival_round=int(round(rank[c.date_key] * span)) if c.date_key else 0)
        for c in claims
    ]
