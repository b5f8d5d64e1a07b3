"""A fetched page as seed text: HTML to readable text (selectolax/Lexbor), cleaned and bounded.

selectolax is a small compiled parser (no lxml, no network, no heuristics that phone home), kept
up to date; it parses broken HTML the way browsers do. Navigation, scripts, styles and forms are
dropped; the main content (`<main>`/`<article>` when the page has one) is kept as lines of text.
"""

from __future__ import annotations

import codecs
import re

from selectolax.lexbor import LexborHTMLParser

from contracts.spec import SEED_MAX_CHARS
from services.gateway.fetcher import Fetched

_DROP = "script, style, noscript, template, svg, canvas, iframe, object, embed, nav, header, footer, aside, form, button, select"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLANKS = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t\u00a0]+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.I)


def _decode(body: bytes, charset: str | None) -> str:
    if charset is None and (m := _META_CHARSET.search(body[:4096])):
        charset = m.group(1).decode("ascii").lower()
    try:
        codec = codecs.lookup(charset or "utf-8").name
    except LookupError:
        codec = "utf-8"
    return body.decode(codec, errors="replace")


def html_to_text(html: str) -> tuple[str, str | None]:
    """(text, title) of an HTML document: the main content's text, one block per line."""
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    for node in tree.css(_DROP):
        node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    text = root.text(separator="\n", strip=True) if root is not None else ""
    return text, title or None


def clean(text: str) -> str:
    """Storable seed text: no control characters but tab/newline, spaces collapsed, no blank runs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def page_text(page: Fetched, limit: int = SEED_MAX_CHARS) -> tuple[str, str | None, bool]:
    """(text, title, truncated): the page as seed text, cut at `limit` characters (a seed's maximum)."""
    raw = _decode(page.body, page.charset)
    if page.content_type in ("text/html", "application/xhtml+xml"):
        text, title = html_to_text(raw)
    else:
        text, title = raw, None
    text = clean(text)
    if len(text) <= limit:
        return text, title, False
    cut = text.rfind("\n", 0, limit)
    return text[: cut if cut > limit * 0.8 else limit].rstrip(), title, True
