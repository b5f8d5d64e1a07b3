"""Small text helpers shared by the engine: slugs, whitespace, sentences, content words."""

from __future__ import annotations

import re

from contracts.ids import slugify, unique_slug  # noqa: F401 - re-exported for the engine

_WS = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")

# Function words: ignored when comparing a text with the question.
STOPWORDS: frozenset[str] = frozenset(
    """a an the and or but if then else of to in on at by for from with without into onto over
    under about above below after before during since until than as is are was were be been being
    do does did done doing have has had having will would shall should can could may might must
    this that these those it its it's they them their there here we us our you your i me my he him
    his she her hers who whom whose which what when where why how all any some no not nor so too
    very just also only even more most less least much many such each every either neither both
    own same other another than up down out off again further once yes new one two per via""".split()
)


def clean(text: str) -> str:
    """Collapse whitespace and strip."""
    return _WS.sub(" ", text).strip()


def sentences(text: str) -> list[str]:
    """Split prose into sentences (good enough for seeds and posts)."""
    return [s.strip() for s in _SENTENCE.split(clean(text)) if s.strip()]


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning (no stopwords, at least 3 letters)."""
    return {w.lower().strip("'-") for w in _WORD.findall(text) if len(w) >= 3} - STOPWORDS


def topic_of(question: str) -> str:
    """The question without its trailing '?': used as a short label in posts."""
    q = clean(question).rstrip("?").strip()
    return q[:1].lower() + q[1:] if q[:1].isupper() and not q[:2].isupper() else q


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary and add an ellipsis when longer than limit."""
    text = clean(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
