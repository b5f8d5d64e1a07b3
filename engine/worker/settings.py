"""The worker's settings: from the environment and the command line, never from a shared config."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from engine.settings import EnvSettings, SettingsError


class WorkerSettings(EnvSettings):
    """What one pod worker needs, each field also `SIMSWARM_<FIELD>` (`token`: SIMSWARM_POD_TOKEN).

    `token` is the per-pod bearer token (never logged, never in the repr).
    """

    model_config = SettingsConfigDict(env_prefix="SIMSWARM_")

    token: str = Field(min_length=1, validation_alias="SIMSWARM_POD_TOKEN", repr=False)
    llm_url: str | None = None  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1
    model: str | None = None  # default model id when a run spec names none
    work_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "simswarm-worker")
    upload_attempts: int = 5  # per artifact / checkpoint PUT, and per resume GET
    upload_backoff_s: float = 0.5  # first retry delay; doubles each attempt, with jitter
    transfer_timeout_s: float = 300.0
    max_wait_s: float = 30.0  # cap of the events long-poll
    health_timeout_s: float = 3.0
    log_lines: int = 2000  # kept for GET /logs


def settings_from_env(*, token_file: Path | None = None, **flags: Any) -> WorkerSettings:
    """Settings from the environment (`SIMSWARM_POD_TOKEN`, `SIMSWARM_LLM_URL`, `SIMSWARM_MODEL`,
    `SIMSWARM_WORK_DIR`, ...), with the token from `token_file` and the `flags` not None on top.

    Raises ValueError naming the variable to set (no token, or a value that is not valid)."""
    token = token_file.read_text().strip() if token_file is not None else None
    try:
        return WorkerSettings.from_env(token=token, **flags)
    except SettingsError as exc:
        if "SIMSWARM_POD_TOKEN" in exc.refused:
            raise SettingsError(
                {"SIMSWARM_POD_TOKEN": "no pod token: set it, or pass --token-file PATH"}
            ) from exc
        raise
