"""Related markets that stay coherent (docs/engine.md §4): nested deadlines, linked beliefs, arbitrage.

A run's markets are not independent questions. "Will X happen within 15 days?" is contained in
"Will X happen within 30 days?": its price must never be above the longer one's. This module

* reads each market's question as an event plus a time window (`split_horizon`) and links every
  market to the run's main question (`link_markets`): the main question itself, the same event on
  another deadline (`deadline`, with the ratio of the two windows), the same question with a
  harder or easier threshold (`threshold`), a stakeholder's public stance (`actor`), or something
  else (`other`);
* maps an agent's probability for the main question to its probability for each linked market
  (`market_belief`), consistently: with a constant hazard, P(by t) = 1 - (1 - P(by T))^(t/T), so
  an agent's beliefs are monotone in the deadline; a harder threshold gets p², an easier one √p;
* lists the pairs (contained, containing) whose prices must be ordered (`nested_pairs`); the market book
  enforces them with an arbitrage trade after every trade (`engine.market.MarketBook.arbitrage`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from engine.text import clean

LinkKind = Literal["main", "deadline", "threshold", "actor", "other"]

_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_WORD_NUM = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fourteen": 14,
    "thirty": 30,
}
# "within 30 days", "in the next two weeks", "within the first 15 days", "over the coming 3 months"
_WINDOW = re.compile(
    r"\s*,?\s*\b(?:within|in|over|during)\s+(?:the\s+)?(?:next|first|coming|following)?\s*"
    r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fourteen|thirty)\s+"
    r"(day|week|month|year)s?\b",
    re.IGNORECASE,
)
# "by June 30", "before the end of March", "by the end of the year", "by 2027"
_BY_DATE = re.compile(
    r"\s*,?\s*\b(?:by|before|until|no later than)\s+(?:the\s+end\s+of\s+)?(?:the\s+)?"
    r"(?:[A-Z][a-z]+\.?(?:\s+\d{1,2}(?:st|nd|rd|th)?)?(?:,?\s+\d{4})?|\d{1,2}\s+[A-Z][a-z]+(?:\s+\d{4})?"
    r"|\d{4}|year|month|week|quarter|summer|winter|spring|autumn|fall)\b"
    r"(?:\s+(?:deadline|meeting|vote|summit|session|break))?"
)
# A fixed time for the event rather than a countdown: "this year", "this season", "at its March
# meeting", "in its opening weekend". A shorter deadline makes no sense for such a question.
_ANCHOR = re.compile(
    r"\b(?:this|next|the coming)\s+(?:year|season|month|week|quarter|weekend|term|session)\b"
    r"|\b(?:at|in|during)\s+(?:its|the|their|his|her)\s+[\w' -]{0,30}?"
    r"(?:meeting|weekend|election|vote|summit|session|final|season|debut)\b",
    re.IGNORECASE,
)
_AUX = re.compile(r"^(will|would|is|are|was|does|do|did|can|could|should|has|have)\s+", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def split_horizon(question: str) -> tuple[str, int | None, bool]:
    """(event, window in days or None, has_date) of a question.

    The event is the question without its time window or deadline, lower-cased and reduced to
    words, so "Will X close within 15 days?" and "Will X close by June 30?" share one event.
    `has_date` is True for a calendar deadline ("by June 30"), whose length in days the question
    alone does not tell.
    """
    text = clean(question).rstrip(" ?.!")
    days: int | None = None
    m = _WINDOW.search(text)
    if m:
        n = m.group(1).lower()
        days = (int(n) if n.isdigit() else _WORD_NUM[n]) * _UNIT_DAYS[m.group(2).lower()]
        text = text[: m.start()] + text[m.end() :]
    d = _BY_DATE.search(text)
    has_date = d is not None
    if d:
        text = text[: d.start()] + text[d.end() :]
    event = _NON_WORD.sub(" ", _AUX.sub("", text.strip()).lower()).strip()
    return event, days, has_date


_THRESHOLD = re.compile(
    r"\b(more than|over|above|at least|exceeds?|exceeding|tops?|surpass(?:es)?|greater than|higher than|"
    r"less than|fewer than|under|below|at most|lower than)\s+(?:the\s+)?[$€£]?(\d[\d,]*(?:\.\d+)?)",
    re.IGNORECASE,
)
_BELOW_WORDS = ("less", "fewer", "under", "below", "at most", "lower")


@dataclass(frozen=True)
class Threshold:
    """The first number a question must pass: `above` it (or below), where it sits in the text."""

    above: bool
    value: float
    start: int
    end: int


def find_threshold(question: str) -> Threshold | None:
    m = _THRESHOLD.search(question)
    if m is None:
        return None
    above = not m.group(1).lower().startswith(_BELOW_WORDS)
    return Threshold(above, float(m.group(2).replace(",", "")), m.start(2), m.end(2))


def _nice(x: float) -> float:
    """x rounded to two significant digits (250, 10,000, 380,000, 63)."""
    if x <= 0:
        return x
    digits = 10 ** (len(str(int(x))) - 2) if x >= 100 else 1
    return float(round(x / digits) * digits)


def stricter_threshold(question: str) -> str | None:
    """The question with its threshold made harder to pass by about a quarter ("more than $200
    million" -> "more than $250 million", "below 5%" -> "below 4%"), or None without one."""
    t = find_threshold(question)
    if t is None:
        return None
    percent = question[t.end : t.end + 9].lstrip().lower().startswith(("%", "percent"))
    if t.above:
        new = _nice(t.value * 1.25)
        if percent and new > 100:
            new = _nice(t.value + (100 - t.value) / 2)
    else:
        new = _nice(t.value * 0.8)
    if new == t.value or new <= 0:
        return None
    text = (
        f"{new:,.0f}"
        if "," in question[t.start : t.end]
        else (f"{new:.0f}" if new.is_integer() else f"{new}")
    )
    return question[: t.start] + text + question[t.end :]


def _threshold_exponent(question: str, goal: str) -> float | None:
    """For the goal with only its threshold changed: 2 for a harder one, 0.5 for an easier one."""
    tq, tg = find_threshold(question), find_threshold(goal)
    if tq is None or tg is None or tq.above != tg.above or tq.value == tg.value:
        return None
    if (question[: tq.start] + "#" + question[tq.end :]).casefold() != (
        goal[: tg.start] + "#" + goal[tg.end :]
    ).casefold():
        return None
    harder = tq.value > tg.value if tq.above else tq.value < tg.value
    return 2.0 if harder else 0.5


def time_anchor(question: str) -> bool:
    """True when the question ties the event to a fixed time ("this year", "at its March meeting")."""
    return _ANCHOR.search(clean(question)) is not None


def strip_horizon(question: str) -> str:
    """The question's words without its window or deadline (case kept), e.g. for a new deadline."""
    text = clean(question).rstrip(" ?.!")
    text = _WINDOW.sub("", text)
    text = _BY_DATE.sub("", text)
    return re.sub(r"\s{2,}", " ", text).strip(" ,")


@dataclass(frozen=True)
class MarketLink:
    """How a market relates to the run's main question."""

    kind: LinkKind
    ratio: float = 1.0  # deadline: this market's window / the main question's window
    entity: int = -1  # actor: index of the stakeholder whose stance the market asks about


def link_markets(
    questions: list[str], goal: str, forecast_days: int, actors: dict[str, int] | None = None
) -> list[MarketLink]:
    """A link per market. The main question is the goal (else the first market); a market on the
    same event with a window in days is a `deadline` market; one whose question names a stakeholder
    in `actors` (name -> entity index) and asks whether it backs the goal is an `actor` market."""
    if not questions:
        return []
    goal_event, goal_days, _ = split_horizon(goal)
    horizon = goal_days or max(1, forecast_days)
    main = next(
        (
            i
            for i, q in enumerate(questions)
            if clean(q).rstrip("?").casefold() == clean(goal).rstrip("?").casefold()
        ),
        0,
    )
    links: list[MarketLink] = []
    for i, q in enumerate(questions):
        if i == main:
            links.append(MarketLink("main"))
            continue
        event, days, _ = split_horizon(q)
        if event == goal_event and days is not None and goal_event:
            links.append(MarketLink("deadline", ratio=days / horizon))
            continue
        exponent = _threshold_exponent(clean(q), clean(goal))
        if exponent is not None:
            links.append(MarketLink("threshold", ratio=exponent))
            continue
        entity = _actor_of(q, actors or {})
        links.append(MarketLink("actor", entity=entity) if entity >= 0 else MarketLink("other"))
    return links


def _actor_of(question: str, actors: dict[str, int]) -> int:
    q = clean(question)
    for name, idx in sorted(actors.items(), key=lambda kv: -len(kv[0])):
        if name and re.match(
            rf"(?:will|would|does|is)\s+(?:the\s+)?{re.escape(name)}\s+publicly\s+back\b", q, re.IGNORECASE
        ):
            return idx
    return -1


def belief_from_position(position: float) -> float:
    """An agent's probability for the main question from its position in [-1, 1] (the heuristic
    policy's reading: 0.5 + 0.45·position)."""
    return 0.5 + 0.45 * max(-1.0, min(1.0, position))


def deadline_probability(p: float, ratio: float) -> float:
    """P(event within ratio·T) from P(event within T), with a constant hazard: 1 - (1 - p)^ratio."""
    p = min(1.0 - 1e-9, max(0.0, p))
    return 1.0 - (1.0 - p) ** max(ratio, 0.0)


def market_belief(
    p_main: float,
    link: MarketLink,
    *,
    actor_position: float = 0.0,
    own_position: float = 0.0,
    corr: float = 0.7,
) -> float:
    """An agent's probability of YES on a market, given its probability for the main question.

    `actor` markets ask whether a stakeholder will back the outcome: the agent reads the
    stakeholder's public stance (`actor_position`, the mean position of its agents) and colours it
    with its own view. `other` markets keep the old correlation with the main question.
    """
    if link.kind == "main":
        return p_main
    if link.kind == "deadline":
        return deadline_probability(p_main, link.ratio)
    if link.kind == "threshold":
        return min(1.0, max(0.0, p_main)) ** link.ratio
    if link.kind == "actor":
        return min(0.97, max(0.03, 0.5 + 0.45 * (0.7 * actor_position + 0.3 * own_position)))
    return min(0.97, max(0.03, 0.5 + corr * (p_main - 0.5)))


def nested_pairs(links: list[MarketLink]) -> list[tuple[int, int]]:
    """(shorter, longer) market index pairs of one event, adjacent in window length: the price of
    the first must never exceed the price of the second."""
    timed = sorted(((link.ratio, i) for i, link in enumerate(links) if link.kind in ("main", "deadline")))
    pairs = [(a, b) for (ra, a), (rb, b) in zip(timed, timed[1:], strict=False) if ra < rb]
    main = next((i for i, link in enumerate(links) if link.kind == "main"), None)
    if main is not None:  # a harder threshold is passed less often than the goal's, an easier one more
        pairs += [
            (i, main) if link.ratio > 1 else (main, i)
            for i, link in enumerate(links)
            if link.kind == "threshold"
        ]
    return pairs
