"""One answer for what the caller may not see: a resource that is missing, another user's, or named by
an id that cannot be one is the same 404, so an id tells nobody whether it exists."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.gateway.errors import ApiError

RESOURCE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What a job, draft or key id looks like; anything else (a NUL byte would reach Postgres and fail
there) is not looked up."""

T = TypeVar("T")


async def owned_or_404(
    kind: str, item_id: str, fetch: Callable[[str], Awaitable[T | None]], noun: str | None = None
) -> T:
    """`fetch(item_id)`, the caller's own `kind` (a row; True for a deletion done), or 404
    `<kind>_not_found` naming `noun` (default `kind`) when it finds nothing."""
    found = await fetch(item_id) if RESOURCE_ID.match(item_id) else None
    if not found:
        raise ApiError(404, f"{kind}_not_found", f"{noun or kind} {item_id[:64]!r} not found")
    return found
