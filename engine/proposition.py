"""The question as a proposition (docs/engine.md, "Reading the seed"): polarity, window, thresholds.

"Will the strike fail to end with a deal within 30 days?" is the negation of "Will the strike end
with a deal within 30 days?". Every stance in the engine is first computed toward the positive
proposition A and then multiplied by `polarity` (+1, or -1 for a negated question), so two runs
on the same seed with A and not-A give P(A) + P(not A) ≈ 1.
"""

from __future__ import annotations

import re

from contracts.artifacts import Proposition, Threshold
from engine.text import STOPWORDS, clean

_AUX = re.compile(
    r"^(will|would|is|are|was|were|does|do|did|can|could|should|shall|has|have|had|won't|"
    r"isn't|aren't|doesn't|don't|didn't|can't|wouldn't)\s+",
    re.IGNORECASE,
)
# Negation of the event (longest first). "fail to", "not", "never", "no longer", "refuse to" ...
_NEGATIONS: tuple[str, ...] = (
    "fail to",
    "fails to",
    "failed to",
    "not manage to",
    "be unable to",
    "be prevented from",
    "refuse to",
    "decline to",
    "no longer",
    "not",
    "never",
)
_NEG_AUX = {"won't", "isn't", "aren't", "doesn't", "don't", "didn't", "can't", "wouldn't"}
_UNIT_WORDS = {"%": "%", "percent": "%", "per cent": "%", "percentage points": "%"}
_SCALE = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "trillion": 1e12,
}
NUMBER = (
    r"(\$|€|£)?\s?(\d[\d,]*(?:\.\d+)?)\s?"
    r"(%|(?:percent|per cent|k|m|mn|b|bn|t|thousand|million|billion|trillion)\b)?"
)
_ABOVE = (
    r"(?:more than|over|above|at least|exceeds?|exceeding|tops?|topping|surpass(?:es)?|beyond|greater than|"
    r"higher than|north of|past|reach(?:es)?|hits?|at or above)"
)
_BELOW = r"(?:less than|fewer than|under|below|at most|lower than|south of|no more than|at or below)"
_THRESHOLD = re.compile(rf"\b({_ABOVE}|{_BELOW})\s+(?:the\s+)?{NUMBER}", re.IGNORECASE)
_FRACTION_WORDS = {
    "a majority": 50.0,
    "majority": 50.0,
    "half": 50.0,
    "two-thirds": 66.67,
    "two thirds": 66.67,
    "three-quarters": 75.0,
    "three quarters": 75.0,
    "unanimous": 99.9,
}
_WINDOW = re.compile(
    r"\b(?:within|in|over)\s+(?:the\s+)?(?:next\s+|first\s+)?(\d+|a|one|two|three|six|twelve)\s+"
    r"(day|week|month|year)s?\b",
    re.IGNORECASE,
)
_BY_DATE = re.compile(
    r"\b(by|before|until|ahead of)\s+((?:the\s+)?(?:end of\s+)?[A-Z0-9][\w ,]{2,30}?)(?=[?.,;]|$)"
)
_DETERMINERS = {
    "the",
    "a",
    "an",
    "its",
    "their",
    "his",
    "her",
    "this",
    "that",
    "these",
    "those",
    "our",
    "new",
}
_WORD_NUM = {"a": 1, "one": 1, "two": 2, "three": 3, "six": 6, "twelve": 12}
_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_VERBISH = re.compile(
    r"^(be|become|get|go|have|win|lose|pass|end|reach|close|top|exceed|fall|rise|drop|order|approve|"
    r"sign|ratify|adopt|launch|ship|announce|delay|cut|raise|hold|keep|remain|stay|make|take|"
    r"resign|leave|join|accept|reject|vote|back|support|settle|agree|strike|file|beat|hit|trade|"
    r"open|release|sell|buy|merge|acquire|complete|finish|default|collapse|survive|move|return|"
    r"increase|decrease|publish|ban|block|allow|enter|start|begin|resume|sue|pay|lift|extend|"
    r"[a-z]+ed)$"
)


def parse_number(symbol: str | None, digits: str, unit: str | None) -> tuple[float, str]:
    """(value, unit) of a matched number: "$120" -> (120, "$"), "55%" -> (55, "%"), "2.5bn" -> (2.5e9, "")."""
    value = float(digits.replace(",", ""))
    u = (unit or "").lower()
    kind = "$" if symbol else ""
    if u in _UNIT_WORDS:
        return value, "%"
    if u in _SCALE:
        value *= _SCALE[u]
    return value, kind


def _strip_negation(core: str) -> tuple[str, str]:
    lowered = core.lower()
    for neg in _NEGATIONS:
        m = re.search(rf"\b{re.escape(neg)}\b\s*", lowered)
        if m and (neg != "not" or not re.search(r"\bnot only\b", lowered)):
            return clean(core[: m.start()] + core[m.end() :]), neg
    return core, ""


def stem(word: str) -> str:
    """A crude stem so 'passes', 'passed', 'passing' and 'pass' compare equal."""
    w = word.lower().strip("'-")
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w[:-1] if len(w) > 4 and w.endswith("e") else w


def keywords(text: str) -> list[str]:
    """Content-word stems of a text, in order, de-duplicated."""
    out: dict[str, None] = {}
    for w in re.findall(r"[A-Za-z][A-Za-z'\-]+", text):
        if len(w) >= 3 and w.lower() not in STOPWORDS:
            out.setdefault(stem(w), None)
    return list(out)


def parse_proposition(question: str) -> Proposition:
    """Parse a yes/no question into its positive proposition, polarity, window and thresholds."""
    q = clean(question)
    core = q.rstrip(" ?.!")
    polarity, negation = 1, ""
    m = _AUX.match(core)
    if m:
        if m.group(1).lower() in _NEG_AUX:
            polarity, negation = -1, m.group(1).lower()
        core = core[m.end() :]
    stripped, neg = _strip_negation(core)
    if neg:
        polarity, negation = -polarity, (negation + " " + neg).strip()
        core = stripped
    core = re.sub(r"^(still|ever|really|actually)\s+", "", core, flags=re.IGNORECASE)
    thresholds: list[Threshold] = []
    for t in _THRESHOLD.finditer(core):
        value, unit = parse_number(t.group(2), t.group(3), t.group(4))
        below = re.fullmatch(_BELOW, t.group(1), flags=re.IGNORECASE) is not None
        thresholds.append(Threshold(op="<" if below else ">", value=value, unit=unit, phrase=t.group(0)))
    for words, pct in _FRACTION_WORDS.items():
        if re.search(rf"\b{re.escape(words)}\b", core, re.IGNORECASE) and not any(
            t.unit == "%" for t in thresholds
        ):
            thresholds.append(Threshold(op=">", value=pct, unit="%", phrase=words))
            break
    window_days: int | None = None
    w = _WINDOW.search(core)
    if w:
        g = w.group(1)
        window_days = (int(g) if g.isdigit() else _WORD_NUM.get(g.lower(), 1)) * _DAYS[w.group(2).lower()]
    d = _BY_DATE.search(core)
    deadline = d.group(2).strip() if d else ""
    tokens = core.split()
    subject_len = 0
    for i, tok in enumerate(tokens):
        if (
            i > 0
            and _VERBISH.match(tok.lower().strip(","))
            and not tok[:1].isupper()
            and tokens[i - 1].lower() not in _DETERMINERS
            and not (
                i + 1 < len(tokens)
                and _VERBISH.match(tokens[i + 1].lower())
                and tokens[i + 1].isalpha()
                and not tokens[i + 1].endswith("ed")
            )
        ):  # "the transit strike end": the verb is "end"
            subject_len = i
            break
    if subject_len == 0:
        subject_len = min(len(tokens), 2)
    subject = " ".join(tokens[:subject_len])
    event = " ".join(tokens[subject_len:])
    return Proposition(
        question=q,
        statement=core,
        subject=subject,
        event=event or core,
        polarity=polarity,
        negation=negation,
        window_days=window_days,
        deadline=deadline,
        thresholds=thresholds,
        keywords=keywords(core),
    )
