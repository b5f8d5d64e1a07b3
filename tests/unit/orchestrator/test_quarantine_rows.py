"""What the projection makes of values PostgreSQL cannot store (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.orchestrator.quarantine import QUARANTINED_STAGE, placeholder_row, storable
from services.orchestrator.rows import COLUMNS


def test_nul_and_lone_surrogates_become_replacement_characters_everywhere() -> None:
    value = {"goal": "a\x00b", "markets": [{"question": "q\ud800?"}], "k\x00": ["x\x00"], "n": 3}
    clean = storable(value)
    assert clean == {
        "goal": "a\ufffdb",
        "markets": [{"question": "q\ufffd\ufffd\ufffd?"}],
        "k\ufffd": ["x\ufffd"],
        "n": 3,
    }
    assert storable(clean) == clean  # stable: a rebuilt row equals the live one
    assert storable("tabs\tand\nnewlines stay") == "tabs\tand\nnewlines stay"


def test_a_placeholder_row_has_every_column_and_says_why() -> None:
    at = datetime(2026, 12, 3, tzinfo=UTC)
    row = placeholder_row(
        job_id="j\x00",
        owner_id="u",
        status="failed",
        created_at=at,
        updated_at=at,
        version=4,
        last_event_id="e",
        reason="could not be stored",
        goal="g\x00",
    )
    assert set(row) == set(COLUMNS)
    assert row["stage"] == QUARANTINED_STAGE and row["error"] == "could not be stored"
    assert row["job_id"] == "j\ufffd" and row["goal"] == "g\ufffd" and row["agents"] is None
