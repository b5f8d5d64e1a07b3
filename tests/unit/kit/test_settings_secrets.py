"""The per-home secrets: kept in the home, or an error naming the way out — never a random one per process."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kit.settings import SettingsError, load_settings


def test_a_home_that_cannot_hold_the_secret_fails_loudly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    home = blocker / "home"  # cannot be created: its parent is a file
    with pytest.raises(
        SettingsError, match=r"cannot read or create .*secret.*set SIMSWARM_PODMANAGER_SECRET"
    ):
        load_settings({"SIMSWARM_HOME": str(home)})
    with pytest.raises(SettingsError, match=r"metrics-token.*set SIMSWARM_METRICS_TOKEN"):
        load_settings({"SIMSWARM_HOME": str(home), "SIMSWARM_PODMANAGER_SECRET": "s" * 32})
    settings = load_settings(
        {
            "SIMSWARM_HOME": str(home),
            "SIMSWARM_PODMANAGER_SECRET": "s" * 32,
            "SIMSWARM_METRICS_TOKEN": "m" * 32,
        }
    )
    assert (settings.podmanager_secret, settings.metrics_token) == ("s" * 32, "m" * 32)


def test_the_secrets_are_made_once_per_home_and_kept(tmp_path: Path) -> None:
    first = load_settings({"SIMSWARM_HOME": str(tmp_path / "home")})
    again = load_settings({"SIMSWARM_HOME": str(tmp_path / "home")})
    assert first.podmanager_secret and first.podmanager_secret == again.podmanager_secret
    assert first.metrics_token and first.metrics_token == again.metrics_token
    assert (tmp_path / "home" / "secret").stat().st_mode & 0o777 == 0o600
