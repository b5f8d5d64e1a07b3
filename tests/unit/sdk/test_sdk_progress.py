"""`wait()`'s progress display: a bar with the phase and round n/N on a terminal, nothing elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from simswarm.client import TimelineEvent
from simswarm.client.progress import WaitProgress, want_progress


def _event(seq: int, etype: str, **data: object) -> TimelineEvent:
    return TimelineEvent(seq=seq, type=etype, occurred_at=None, data=dict(data))


def test_the_bar_shows_phase_and_rounds_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    assert want_progress(None, console) and not want_progress(False, console)
    with WaitProgress("0123456789abcdef", enabled=True, console=console) as bar:
        bar.update(_event(1, "PodRequested"))
        bar.update(_event(2, "RunProgressed", round=3, rounds=8))
    assert "round 3/8" in out.getvalue() and "simulating" in out.getvalue()


def test_no_output_when_not_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    assert not want_progress(None, console)
    with WaitProgress("0123456789abcdef", enabled=want_progress(None, console), console=console) as bar:
        bar.update(_event(1, "RunProgressed", round=1, rounds=2))
    assert out.getvalue() == ""
