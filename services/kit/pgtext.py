"""Text PostgreSQL can store: it refuses NUL in `text` and `jsonb`, and UTF-8 cannot carry lone surrogates.

Events may hold such text however it got into the log (JSON carries both). Whatever a service writes
to Postgres from an event goes through `storable`, so one bad string cannot make a write fail again
on every redelivery. The replacement (U+FFFD) is deterministic: a row rebuilt from the log equals the
live one.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def storable_text(text: str) -> str:
    """`text` with NUL and unencodable characters replaced by U+FFFD (unchanged when already fine)."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def storable(value: Any) -> Any:
    """`value` with every string in it (dict keys included) made storable; other values as they are."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
