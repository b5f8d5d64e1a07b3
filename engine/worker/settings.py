"""The worker's settings: from the environment and the command line, never from a shared config."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import msgspec


class WorkerSettings(msgspec.Struct, kw_only=True):
    """What one pod worker needs. `token` is the per-pod bearer token (never logged)."""

    token: str
    llm_url: str | None = None  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1
    model: str | None = None  # default model id when a run spec names none
    work_dir: Path = msgspec.field(default_factory=lambda: Path(tempfile.gettempdir()) / "simswarm-worker")
    upload_attempts: int = 5  # per artifact / checkpoint PUT, and per resume GET
    upload_backoff_s: float = 0.5  # first retry delay; doubles each attempt, with jitter
    transfer_timeout_s: float = 300.0
    max_wait_s: float = 30.0  # cap of the events long-poll
    health_timeout_s: float = 3.0
    log_lines: int = 2000  # kept for GET /logs

    def __repr__(self) -> str:  # keep the token out of any accidental log line or traceback
        return (
            f"WorkerSettings(llm_url={self.llm_url!r}, model={self.model!r}, work_dir={str(self.work_dir)!r})"
        )


def settings_from_env(
    env: Mapping[str, str] | None = None, *, token_file: Path | None = None
) -> WorkerSettings:
    """Read `SIMSWARM_POD_TOKEN` (or `token_file`), `SIMSWARM_LLM_URL`, `SIMSWARM_MODEL`,
    `SIMSWARM_WORK_DIR`. Raises ValueError with what to do when no token is available."""
    env = os.environ if env is None else env
    token = env.get("SIMSWARM_POD_TOKEN", "")
    if token_file is not None:
        token = token_file.read_text().strip()
    if not token:
        raise ValueError("no pod token: set SIMSWARM_POD_TOKEN or pass --token-file PATH")
    settings = WorkerSettings(
        token=token,
        llm_url=env.get("SIMSWARM_LLM_URL") or None,
        model=env.get("SIMSWARM_MODEL") or None,
    )
    if env.get("SIMSWARM_WORK_DIR"):
        settings.work_dir = Path(env["SIMSWARM_WORK_DIR"])
    return settings
