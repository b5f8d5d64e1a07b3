"""The engine's own settings (engine/settings.py): the pod worker's and the LLM policy's, from the
environment under their documented names, keyword arguments (command-line flags) on top, and a value
that cannot be used refused with its variable named."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.worker import RunSpec
from engine.llm import build_llm_components
from engine.llm.config import LLMConfig, config_from_env
from engine.settings import SettingsError
from engine.worker.settings import WorkerSettings, settings_from_env

SIMSWARM_VARS = (
    "SIMSWARM_POD_TOKEN",
    "SIMSWARM_LLM_URL",
    "SIMSWARM_MODEL",
    "SIMSWARM_WORK_DIR",
    "SIMSWARM_LLM_MODEL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in SIMSWARM_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_the_worker_reads_its_variables_and_flags_win(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("SIMSWARM_POD_TOKEN", "t0k3n")
    clean_env.setenv("SIMSWARM_LLM_URL", "http://127.0.0.1:8000/v1")
    clean_env.setenv("SIMSWARM_MODEL", "Qwen/Qwen3-14B")
    clean_env.setenv("SIMSWARM_WORK_DIR", str(tmp_path))
    clean_env.setenv("SIMSWARM_UPLOAD_ATTEMPTS", "7")
    settings = settings_from_env()
    assert (settings.token, settings.llm_url, settings.model) == (
        "t0k3n",
        "http://127.0.0.1:8000/v1",
        "Qwen/Qwen3-14B",
    )
    assert settings.work_dir == tmp_path and settings.upload_attempts == 7
    assert "t0k3n" not in repr(settings)
    flagged = settings_from_env(llm_url="http://flag/v1", model=None, work_dir=tmp_path / "w")
    assert (flagged.llm_url, flagged.model, flagged.work_dir) == (
        "http://flag/v1",
        "Qwen/Qwen3-14B",
        tmp_path / "w",
    )
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert settings_from_env(token_file=token_file).token == "from-file"


def test_the_worker_without_a_token_or_with_a_bad_value_says_which_variable(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="SIMSWARM_POD_TOKEN: no pod token: set it, or pass --token-file"):
        settings_from_env()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="no pod token"):
        settings_from_env(token_file=tmp_path / "empty")
    clean_env.setenv("SIMSWARM_POD_TOKEN", "t")
    clean_env.setenv("SIMSWARM_LOG_LINES", "lots")
    with pytest.raises(SettingsError, match="SIMSWARM_LOG_LINES: Input should be a valid integer") as info:
        settings_from_env()
    assert info.value.refused.keys() == {"SIMSWARM_LOG_LINES"}
    assert WorkerSettings.variable("token") == "SIMSWARM_POD_TOKEN"


def test_the_llm_knobs_come_from_simswarm_llm_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SIMSWARM_LLM_TIMEOUT_S", "0.3")
    clean_env.setenv("SIMSWARM_LLM_RETRIES", "0")
    clean_env.setenv("SIMSWARM_LLM_MAX_FAILED_ROUNDS", "2")
    clean_env.setenv("SIMSWARM_LLM_API_KEY", "sk-secret")
    config = config_from_env("http://127.0.0.1:8000/v1/", "m")
    assert (config.url, config.model) == ("http://127.0.0.1:8000/v1", "m")
    assert (config.timeout_s, config.max_retries, config.max_failed_rounds) == (0.3, 0, 2)
    assert config.api_key == "sk-secret" and "sk-secret" not in repr(config)
    assert LLMConfig(url="u", model="m", concurrency=1).concurrency == 1  # keyword arguments win
    clean_env.setenv("SIMSWARM_LLM_CONCURRENCY", "many")
    with pytest.raises(SettingsError, match="SIMSWARM_LLM_CONCURRENCY: Input should be a valid integer"):
        config_from_env("http://x/v1", "m")


def test_a_run_finds_its_endpoint_and_model_in_the_spec_or_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    spec = RunSpec(seed_text="A seed.", goal="Will it?", policy="llm")
    with pytest.raises(ValueError, match="set spec.llm_url or SIMSWARM_LLM_URL"):
        build_llm_components(spec)
    clean_env.setenv("SIMSWARM_LLM_URL", "http://127.0.0.1:9/v1")
    clean_env.setenv("SIMSWARM_MODEL", "pod-model")
    config = build_llm_components(spec).client.config
    assert (config.url, config.model) == ("http://127.0.0.1:9/v1", "pod-model")
    spec = RunSpec(
        seed_text="A seed.", goal="Will it?", policy="llm", llm_url="http://spec/v1", model="spec-model"
    )
    config = build_llm_components(spec).client.config
    assert (config.url, config.model) == ("http://spec/v1", "spec-model")


def test_an_aliased_field_is_read_only_under_its_documented_name(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SIMSWARM_TOKEN", "not-the-pod-token")
    clean_env.setenv("SIMSWARM_LLM_MODEL", "the-gateway-model")  # the platform's, not a run's
    clean_env.setenv("SIMSWARM_LLM_MAX_RETRIES", "9")
    with pytest.raises(SettingsError, match="no pod token"):
        settings_from_env()
    config = config_from_env("http://127.0.0.1:9/v1")
    assert (config.model, config.max_retries) == ("", 3)
