"""Secrets on disk (issue: infrastructure without credentials): 0600 files in a 0700 home, and S3 keys
made per home instead of fixed ones, checked against the real SeaweedFS of the session."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from services.kit.objectstore import ObjectStore, ObjectStoreUnavailable
from services.kit.secretfiles import read_or_create_secret, write_secret
from services.kit.settings import (
    SettingsError,
    load_settings,
    nats_credentials_file,
    stack_file,
    write_stack_file,
)
from simswarm.stack import s3_keys
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_stack_keeps_its_secrets_private(stack):
    # 0700; as root with the embedded PostgreSQL, 0711: its `pgserver` OS user must traverse to its data
    private = 0o711 if os.geteuid() == 0 and stack.postgres is not None else 0o700
    assert mode(stack.home) == private
    assert mode(stack.home / "data") == private
    assert mode(nats_credentials_file(stack.home)) == 0o600
    assert mode(stack.nats.data_dir / "auth.conf") == 0o600
    if stack.s3 is not None:
        assert mode(stack.home / "s3-credentials.json") == 0o600
        assert mode(stack.s3.data_dir / "s3-identities.json") == 0o600
    # every service has a password of its own
    passwords = json.loads(nats_credentials_file(stack.home).read_text())
    assert len(set(passwords.values())) == len(passwords) >= 7


def test_settings_secrets_and_the_stack_file_are_0600(tmp_path):
    home = tmp_path / "home"
    settings = load_settings({"SIMSWARM_HOME": str(home)})
    assert mode(home) == 0o700
    assert mode(home / "secret") == 0o600 and settings.podmanager_secret
    assert mode(home / "metrics-token") == 0o600 and settings.metrics_token
    write_stack_file(home, {"s3_access_key": "k", "s3_secret_key": "s"})
    assert mode(stack_file(home)) == 0o600
    assert load_settings({"SIMSWARM_HOME": str(home)}).s3_secret_key == "s"


def test_a_secret_written_over_a_world_readable_file_becomes_0600(tmp_path):
    loose = tmp_path / "api-key"
    loose.write_text("old")
    loose.chmod(0o644)
    write_secret(loose, "new")
    assert mode(loose) == 0o600 and loose.read_text() == "new"
    kept = tmp_path / "kept"
    kept.write_text("value\n")
    kept.chmod(0o644)
    assert read_or_create_secret(kept) == "value" and mode(kept) == 0o600


def test_s3_keys_are_made_per_home_and_kept(tmp_path):
    first, second = s3_keys(tmp_path / "a"), s3_keys(tmp_path / "b")
    assert first != second
    assert s3_keys(tmp_path / "a") == first  # a restart keeps them
    assert "simswarm-secret" not in first


async def test_the_embedded_s3_refuses_the_old_fixed_keys(stack, tmp_path):
    if stack.s3 is None:
        pytest.skip("the suite runs against an external S3 (SIMSWARM_TEST_S3_ENDPOINT)")
    assert (stack.s3.access_key, stack.s3.secret_key) != ("simswarm", "simswarm-secret")
    fixed = make_settings(stack, tmp_path / "home", s3_access_key="simswarm", s3_secret_key="simswarm-secret")
    with pytest.raises(ObjectStoreUnavailable):
        await ObjectStore(fixed).ensure_bucket()
    await ObjectStore(make_settings(stack, tmp_path / "home2")).ensure_bucket()  # the home's own keys work


def test_the_object_store_has_no_fixed_default_keys(tmp_path):
    settings = load_settings({"SIMSWARM_HOME": str(tmp_path), "S3_ENDPOINT": "http://127.0.0.1:9"})
    assert settings.s3_access_key == "" and settings.s3_secret_key == ""
    with pytest.raises(SettingsError, match="S3_ACCESS_KEY and S3_SECRET_KEY"):
        ObjectStore(settings)


def _first_read(path: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    out.put(read_or_create_secret(Path(path)))


def test_processes_starting_at_once_agree_on_a_new_secret(tmp_path):
    """Services started together over a fresh home all make the pod manager's secret at once: each must
    end up with the one on disk (two pod managers holding different secrets refuse each other's pods:
    a run submitted by the replica that did not provision the pod was rejected by its worker)."""
    ctx = multiprocessing.get_context("fork")  # the children only call one function
    for attempt in range(5):
        path = tmp_path / f"secret-{attempt}"
        barrier, out = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_first_read, args=(str(path), barrier, out)) for _ in range(8)]
        for proc in procs:
            proc.start()
        values = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(60)
        assert set(values) == {path.read_text().strip()}, (attempt, set(values))
        assert mode(path) == 0o600
