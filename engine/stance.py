"""Stance of a text toward a yes/no question (docs/engine.md §5): VADER sentiment plus likelihood cues.

Two signals, both generic to any forecasting question (nothing is tuned to one job):

* **likelihood**: the language of probability ("likely", "expect", "doubt", "won't", "no way"),
  with VADER's negation detection flipping a cue it governs ("not likely");
* **sentiment**: VADER's compound score, oriented by the question's own valence — praise of the
  outcome of "Will the merger be approved?" means YES, while upbeat news about a company asked
  "Will it go bankrupt?" means NO.

The result is scaled by topical relevance (content words shared with the question) and lies in
[-1, 1]. Scores are memoised per (text, question): templates repeat at scale.
"""

from __future__ import annotations

import math
import re

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer, negated

from engine.text import content_words

# Probability language, weights in [-1, 1]. Multi-word cues are matched before single words.
_PHRASES: dict[str, float] = {
    "no way": -0.9,
    "no chance": -0.9,
    "not going to": -0.8,
    "won't happen": -0.9,
    "on track": 0.6,
    "going to happen": 0.8,
    "bound to": 0.7,
    "set to": 0.4,
    "poised to": 0.5,
    "bet on": 0.5,
    "betting on": 0.5,
    "mark my words": 0.3,
    "for sure": 0.7,
    "no doubt": 0.7,
    "long shot": -0.6,
    "dead end": -0.6,
    "far from": -0.4,
}
_WORDS: dict[str, float] = {
    "likely": 0.6,
    "probably": 0.5,
    "probable": 0.5,
    "certainly": 0.8,
    "definitely": 0.8,
    "surely": 0.6,
    "expect": 0.5,
    "expects": 0.5,
    "expected": 0.4,
    "inevitable": 0.9,
    "confident": 0.5,
    "convinced": 0.6,
    "imminent": 0.7,
    "soon": 0.3,
    "will": 0.25,
    "yes": 0.6,
    "bullish": 0.6,
    "momentum": 0.3,
    "happening": 0.5,
    "certain": 0.7,
    "unlikely": -0.6,
    "improbable": -0.6,
    "doubt": -0.6,
    "doubts": -0.5,
    "doubtful": -0.6,
    "never": -0.7,
    "impossible": -0.9,
    "won't": -0.7,
    "wont": -0.7,
    "cannot": -0.5,
    "can't": -0.5,
    "fail": -0.5,
    "fails": -0.5,
    "failing": -0.5,
    "stall": -0.4,
    "stalled": -0.4,
    "bearish": -0.6,
    "skeptical": -0.5,
    "sceptical": -0.5,
    "overhyped": -0.5,
    "no": -0.35,
    "delay": -0.3,
    "delayed": -0.3,
    "hardly": -0.4,
}
_TOKEN = re.compile(r"[a-z][a-z']*")


class StanceScorer:
    """Scores texts in [-1, 1] toward YES on a question. Deterministic; caches its answers."""

    def __init__(self, cache_size: int = 200_000) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._cache: dict[tuple[str, str], float] = {}
        self._question: dict[str, tuple[float, set[str]]] = {}
        self._cache_size = cache_size

    def _question_info(self, question: str) -> tuple[float, set[str]]:
        info = self._question.get(question)
        if info is None:
            valence = self._vader.polarity_scores(question)["compound"]
            orientation = -1.0 if valence <= -0.25 else 1.0
            info = (orientation, content_words(question))
            self._question[question] = info
        return info

    def likelihood(self, text: str) -> float:
        """Probability language in the text, in (-1, 1); negated cues flip."""
        lowered = text.lower().replace("’", "'")
        total = 0.0
        for phrase, weight in _PHRASES.items():
            if phrase in lowered:
                total += weight * lowered.count(phrase)
                lowered = lowered.replace(phrase, " ")
        tokens = _TOKEN.findall(lowered)
        for i, tok in enumerate(tokens):
            word_weight = _WORDS.get(tok)
            if word_weight is None:
                continue
            window = tokens[max(0, i - 3) : i]
            if window and word_weight > 0 and negated(window):
                word_weight = -word_weight
            total += word_weight
        return math.tanh(total)

    def score(self, text: str, question: str) -> float:
        """Stance of `text` toward YES on `question`, in [-1, 1]."""
        key = (text, question)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        orientation, q_words = self._question_info(question)
        sentiment = self._vader.polarity_scores(text)["compound"]
        # quoting the question ("Will X?") states no stance: drop it before reading cues
        core = question.strip().rstrip("?").strip()
        likelihood = self.likelihood(
            re.sub(re.escape(core), " ", text, flags=re.IGNORECASE) if core else text
        )
        raw = 0.65 * likelihood + 0.35 * orientation * sentiment
        overlap = len(content_words(text) & q_words) / max(1, min(len(q_words), 4))
        relevance = 0.6 + 0.4 * min(1.0, overlap)
        value = max(-1.0, min(1.0, raw * relevance))
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = value
        return value
