"""What the projection does with a job it cannot store: sanitize what it can, quarantine the rest.

The event log is the truth and may hold anything that ever got in (an older gateway's input, a
buggy pod's progress, a hand-made event). PostgreSQL refuses some of it: NUL in `text` and `jsonb`,
lone surrogates, integers wider than a column. None of that may stop the read model for everyone,
so:

* text is made storable (`services.kit.pgtext.storable`): NUL and unencodable characters become
  U+FFFD, the same way on every run, so a rebuilt row still equals the live one;
* a row that still cannot be written, or a job whose stored events cannot even be applied, is
  quarantined: a placeholder row (`placeholder_row`: identity, status, stage `quarantined`, the
  reason as `error`) stands in for it, `<schema>.quarantine` says why, and the saga fails the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.pgtext import storable, storable_text

__all__ = ["POISON_ERRORS", "QUARANTINED_STAGE", "Quarantined", "placeholder_row", "short", "storable"]

QUARANTINED_STAGE = "quarantined"

# Errors that say "this value cannot be stored", as opposed to "the database is not there": the first
# kind is set aside at once, the second is retried (quarantining on an outage would lose good rows).
POISON_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,  # class 22: out of range, bad encoding, untranslatable character
    asyncpg.IntegrityConstraintViolationError,  # class 23: e.g. a NULL where the row needs a value
    asyncpg.ProgramLimitExceededError,  # class 54: e.g. a key too long for its index
    UnicodeError,
    ValueError,
    OverflowError,
    TypeError,
    KeyError,
    AttributeError,
)


@dataclass(frozen=True)
class Quarantined:
    """A job the projection set aside: which, at which version, and why."""

    job_id: str
    version: int
    reason: str


def short(exc: BaseException, limit: int = 300) -> str:
    """An exception as one bounded, storable line for a reason."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return storable_text(text[:limit])


def _text(value: Any) -> str | None:
    return None if value is None else storable_text(str(value))


def placeholder_row(
    *,
    job_id: str,
    owner_id: Any,
    status: str,
    created_at: datetime,
    updated_at: datetime,
    version: int,
    last_event_id: str,
    reason: str,
    goal: Any = None,
    tier: Any = None,
    retry_of: Any = None,
    finished_at: datetime | None = None,
) -> dict[str, Any]:
    """A row that can always be stored: identity and status, every other value left empty."""
    return {
        "job_id": storable_text(job_id),
        "owner_id": _text(owner_id) or "",
        "status": status,
        "stage": QUARANTINED_STAGE,
        "tier": _text(tier),
        "goal": _text(goal),
        "policy": None,
        "agents": None,
        "rounds": None,
        "round": None,
        "attempt": None,
        "created_at": created_at,
        "updated_at": updated_at,
        "finished_at": finished_at,
        "markets": [],
        "prices": {},
        "final_prices": {},
        "verdict": None,
        "error": reason,
        "pod": None,
        "artifacts": [],
        "report_key": None,
        "graph_key": None,
        "timings": {},
        "retry_of": _text(retry_of),
        "last_event_id": last_event_id,
        "version": version,
    }
