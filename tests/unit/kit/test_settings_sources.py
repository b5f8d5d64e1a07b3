"""Where each setting comes from (defaults < stack.json < environment < keyword arguments), and a
value that cannot be used refused with its variable (or stack.json) named: services/kit/settings.py."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from contracts.spec import DEFAULT_TIERS, Tier, local_tiers
from services.kit.settings import (
    Settings,
    SettingsError,
    default_home,
    environment_settings,
    load_settings,
    recorded_settings,
    stack_file,
    write_stack_file,
)


def test_the_environment_wins_over_stack_json_which_wins_over_the_defaults(tmp_path: Path) -> None:
    write_stack_file(tmp_path, {"nats_url": "nats://stack:4222", "gateway_port": 9001, "s3_bucket": "b"})
    env = {"SIMSWARM_HOME": str(tmp_path), "NATS_URL": "nats://env:4222", "S3_BUCKET": ""}
    settings = load_settings(env)
    assert settings.nats_url == "nats://env:4222"  # environment over stack.json
    assert settings.gateway_port == 9001  # stack.json over the default
    assert settings.s3_bucket == "b"  # an empty variable is not set
    assert settings.s3_region == "us-east-1"  # the default
    assert Settings(home=tmp_path, nats_url="nats://kw:4222").nats_url == "nats://kw:4222"


def test_the_mapping_given_is_the_environment_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://process:4222")
    assert load_settings({"SIMSWARM_HOME": str(tmp_path)}).nats_url == "nats://127.0.0.1:4222"
    assert load_settings(home=tmp_path).nats_url == "nats://process:4222"  # no mapping: os.environ


def test_the_home_given_wins_over_simswarm_home_and_its_stack_json_is_read(tmp_path: Path) -> None:
    write_stack_file(tmp_path / "given", {"gateway_port": 1111})
    write_stack_file(tmp_path / "env", {"gateway_port": 2222})
    settings = load_settings({"SIMSWARM_HOME": str(tmp_path / "env")}, home=tmp_path / "given")
    assert (settings.home, settings.gateway_port) == (tmp_path / "given", 1111)
    assert load_settings({"SIMSWARM_HOME": str(tmp_path / "env")}).gateway_port == 2222


def test_only_the_documented_variables_are_read(tmp_path: Path) -> None:
    # A variable spelled like the field, or in other case, sets nothing.
    env = {"SIMSWARM_HOME": str(tmp_path), "nats_url": "nats://x:1", "Nats_Url": "nats://y:1"}
    assert load_settings(env).nats_url == "nats://127.0.0.1:4222"
    variables = Settings.variables()
    assert variables["SIMSWARM_PODMANAGER_MAX_RUNS"] == "podmanager_max_runs"
    assert variables["SIMSWARM_HOME"] == "home" and variables["SIMSWARM_TIERS_FILE"] == "tiers_file"
    assert "tiers" not in variables.values()  # stack.json or SIMSWARM_TIERS_FILE only


def test_a_bad_value_names_where_it_came_from(tmp_path: Path) -> None:
    with pytest.raises(
        SettingsError, match="environment variable SIMSWARM_PORT: Input should be a valid integer"
    ):
        load_settings({"SIMSWARM_HOME": str(tmp_path), "SIMSWARM_PORT": "eighty"})
    with pytest.raises(SettingsError, match="environment variable SIMSWARM_NATS_AUTH"):
        load_settings({"SIMSWARM_HOME": str(tmp_path), "SIMSWARM_NATS_AUTH": "perhaps"})
    write_stack_file(tmp_path, {"gateway_port": "eighty"})
    with pytest.raises(SettingsError, match=rf"gateway_port in {stack_file(tmp_path)}: Input should be"):
        load_settings({"SIMSWARM_HOME": str(tmp_path)})
    # The environment's value is the one used, so stack.json's bad one is not in the way.
    assert load_settings({"SIMSWARM_HOME": str(tmp_path), "SIMSWARM_PORT": "81"}).gateway_port == 81


def test_an_unreadable_stack_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    stack_file(tmp_path).write_text("{not json")
    with pytest.raises(SettingsError, match=r"stack.json is unreadable"):
        load_settings({"SIMSWARM_HOME": str(tmp_path)})


def test_the_routing_table_comes_from_stack_json_or_the_tiers_file(tmp_path: Path) -> None:
    assert load_settings({"SIMSWARM_HOME": str(tmp_path / "a")}).tiers == DEFAULT_TIERS
    write_stack_file(tmp_path / "b", {"tiers": msgspec.to_builtins(local_tiers())})
    assert load_settings({"SIMSWARM_HOME": str(tmp_path / "b")}).tiers == local_tiers()
    table = tmp_path / "tiers.json"
    table.write_text(json.dumps({"small": msgspec.to_builtins(DEFAULT_TIERS[Tier.SMALL])}))
    env = {"SIMSWARM_HOME": str(tmp_path / "b"), "SIMSWARM_TIERS_FILE": str(table)}
    assert list(load_settings(env).tiers) == [Tier.SMALL]  # the file over stack.json
    with pytest.raises(SettingsError, match=r"SIMSWARM_TIERS_FILE .*missing\.json"):
        load_settings({**env, "SIMSWARM_TIERS_FILE": str(tmp_path / "missing.json")})
    table.write_text(json.dumps({"huge": msgspec.to_builtins(DEFAULT_TIERS[Tier.SMALL])}))
    with pytest.raises(SettingsError, match="SIMSWARM_TIERS_FILE"):
        load_settings(env)


def test_a_copy_with_changes_keeps_the_rest(tmp_path: Path) -> None:
    settings = load_settings({"SIMSWARM_HOME": str(tmp_path), "S3_BUCKET": "mine"})
    dead = settings.model_copy(update={"s3_endpoint": "http://127.0.0.1:9"})
    assert (dead.s3_endpoint, dead.s3_bucket, dead.podmanager_secret) == (
        "http://127.0.0.1:9",
        "mine",
        settings.podmanager_secret,
    )
    assert settings.s3_endpoint == "http://127.0.0.1:8333"
    again = Settings.model_validate(settings.model_dump(mode="json"))  # what a test's child process gets
    assert again == settings


def test_what_the_environment_itself_sets(tmp_path: Path) -> None:
    write_stack_file(tmp_path, {"database_url": "postgresql://stack/db"})
    env = {"SIMSWARM_HOME": str(tmp_path), "S3_ENDPOINT": "http://s3.example:8333", "DATABASE_URL": ""}
    given = environment_settings(env)
    assert given == {"home": tmp_path, "s3_endpoint": "http://s3.example:8333"}  # no default, no stack.json
    with pytest.raises(SettingsError, match="SIMSWARM_STREAM_REPLICAS"):
        environment_settings({"SIMSWARM_STREAM_REPLICAS": "three"})


def test_what_simswarm_up_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert recorded_settings(tmp_path) is None
    write_stack_file(tmp_path, {"gateway_host": "127.0.0.2", "gateway_port": 8123})
    monkeypatch.setenv("SIMSWARM_PORT", "9999")  # the environment is not what was recorded
    recorded = recorded_settings(tmp_path)
    assert recorded is not None and recorded.api_url == "http://127.0.0.2:8123"


def test_an_empty_simswarm_home_is_the_default_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMSWARM_HOME", "")
    assert default_home() == Path.home() / ".simswarm"  # not the working directory
