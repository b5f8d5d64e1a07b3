"""Deterministic identifiers every party must compute alike: slugs and market ids."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_NON_SLUG = re.compile(r"[^a-z0-9]+")
MARKET_ID_MAX = 45


def slugify(text: str, max_len: int = 45) -> str:
    """ASCII, lower-case, dash-separated; never empty ('x' when nothing is left), at most max_len."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rstrip("-")
        cut = slug.rfind("-")
        if cut >= max_len // 2:
            slug = slug[:cut]
    return slug or "x"


def unique_slug(base: str, taken: set[str], max_len: int = 45) -> str:
    """`base` (already a slug) or `base-2`, `base-3`... fitted to max_len; adds the result to `taken`."""
    candidate = base[:max_len]
    n = 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate = base[: max_len - len(suffix)].rstrip("-") + suffix
        n += 1
    taken.add(candidate)
    return candidate


def market_id_for(question: str, taken: set[str]) -> str:
    """Deterministic slug of the question, ≤ 45 characters, with collision suffixes."""
    return unique_slug(slugify(question, max_len=MARKET_ID_MAX), taken, max_len=MARKET_ID_MAX)


def market_ids(questions: Iterable[str]) -> list[str]:
    """The ids of a run's markets, in order: what the engine uses in every artifact and event."""
    taken: set[str] = set()
    return [market_id_for(q, taken) for q in questions]
