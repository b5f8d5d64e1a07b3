"""Text a client may send: which characters are allowed, as patterns every schema can share.

Control characters do harm far from where they come in: PostgreSQL cannot store NUL in `text` or
`jsonb` (one such goal used to wedge the projection), and ESC/CSI sequences rewrite a terminal that
shows an e-mail or a key name. So every text field of every request refuses the C0 and C1 control
characters and DEL; long free texts (a seed, a rationale) may keep tab, newline and carriage return.

The patterns are valid both as Python and as ECMAScript regular expressions (they end up in the
OpenAPI document). `(?!\\n)$` closes a hole in Python's `$`, which also matches before a final newline.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*(?!\n)$"
"""One line of text: no control character at all."""

TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Free text: no control character except tab, newline and carriage return."""

_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

Line = Annotated[str, msgspec.Meta(pattern=LINE_PATTERN)]
"""A msgspec string of one line (add a `msgspec.Meta(max_length=...)` for its maximum)."""

Text = Annotated[str, msgspec.Meta(pattern=TEXT_PATTERN)]
"""A msgspec free-text string (tab, newline, carriage return allowed)."""


def control_character_problem(value: str, *, multiline: bool) -> str | None:
    """A sentence saying which control character `value` holds and where, or None if it is clean."""
    m = (_TEXT_BAD if multiline else _LINE_BAD).search(value)
    if m is None:
        return None
    allowed = (
        "only tab, newline and carriage return are allowed" if multiline else "it must be one line of text"
    )
    return f"contains the control character U+{ord(m.group()):04X} at position {m.start()}; {allowed}"
