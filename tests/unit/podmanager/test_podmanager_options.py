"""The pod manager's run slots come from SIMSWARM_PODMANAGER_MAX_RUNS; a bad value stops it at start."""

from __future__ import annotations

import pytest

from services.podmanager.main import MAX_RUNS_ENV, PodManagerOptions


def test_run_slots_default_to_64_and_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_RUNS_ENV, raising=False)
    assert PodManagerOptions.from_env().max_runs == 64
    monkeypatch.setenv(MAX_RUNS_ENV, "2")
    opts = PodManagerOptions.from_env()
    assert opts.max_runs == 2 and opts.durable == "podmanager"


@pytest.mark.parametrize("raw", ["0", "-3", "many", "1.5"])
def test_a_bad_run_slot_count_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(MAX_RUNS_ENV, raw)
    with pytest.raises(ValueError, match=MAX_RUNS_ENV):
        PodManagerOptions.from_env()
