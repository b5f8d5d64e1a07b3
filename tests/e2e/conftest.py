"""The whole platform as a user runs it: `simswarm up` (one process per service) in a temporary home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simswarm.client import Client
from simswarm.stack import free_port
from simswarm.supervisor import Supervisor


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisor]:
    home: Path = tmp_path_factory.mktemp("platform")
    sup = Supervisor(home=home, port=free_port()).start(ready_timeout=120)
    try:
        yield sup
    finally:
        sup.stop()


@pytest.fixture
def client(platform: Supervisor) -> Iterator[Client]:
    with Client(platform.api_url, (platform.home / "api-key").read_text().strip()) as c:
        yield c
