"""Fixtures shared by the integration tests of more than one service."""

from __future__ import annotations

import pytest

from tests.integration.reporter.reporter_helpers import engine_files


@pytest.fixture(scope="session")
def run_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A real small engine run's artifact files (file name -> bytes), run once for the reporter and graph tests."""
    return engine_files(tmp_path_factory.mktemp("engine-run"))
