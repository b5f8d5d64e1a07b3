"""The pod manager's run slots come from SIMSWARM_PODMANAGER_MAX_RUNS (the settings); a bad value stops it at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kit.settings import SettingsError, load_settings
from services.podmanager.main import PodManagerOptions

ENV = "SIMSWARM_PODMANAGER_MAX_RUNS"


def test_run_slots_default_to_64_and_follow_the_environment(tmp_path: Path) -> None:
    home = {"SIMSWARM_HOME": str(tmp_path)}
    assert PodManagerOptions.from_settings(load_settings(home)).max_runs == 64
    opts = PodManagerOptions.from_settings(load_settings({**home, ENV: "2"}))
    assert opts.max_runs == 2 and opts.durable == "podmanager"


@pytest.mark.parametrize("raw", ["0", "-3", "many", "1.5"])
def test_a_bad_run_slot_count_is_refused_with_the_variable_named(tmp_path: Path, raw: str) -> None:
    with pytest.raises(SettingsError, match=ENV):
        load_settings({"SIMSWARM_HOME": str(tmp_path), ENV: raw})


def test_the_runpod_image_is_a_setting(tmp_path: Path) -> None:
    home = {"SIMSWARM_HOME": str(tmp_path)}
    assert load_settings(home).runpod_image == "ghcr.io/simswarm/pod:latest"
    assert (
        load_settings({**home, "SIMSWARM_RUNPOD_IMAGE": "registry.example/pod:1"}).runpod_image
        == "registry.example/pod:1"
    )
