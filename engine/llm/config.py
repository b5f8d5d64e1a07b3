"""The LLM policy's knobs, with defaults tuned for one vLLM server; overridable from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec


class LLMConfig(msgspec.Struct, kw_only=True):
    """How the engine talks to an OpenAI-compatible chat endpoint."""

    url: str  # base URL ending in /v1
    model: str
    api_key: str | None = None  # sent as a bearer token when set (vLLM needs none)
    concurrency: int = 256  # requests in flight at most
    timeout_s: float = 120.0  # per HTTP request
    connect_timeout_s: float = 10.0
    max_retries: int = 3  # extra attempts on transient errors (connect, timeout, 429, 5xx)
    backoff_s: float = 0.5  # first retry delay; doubles per attempt, full jitter
    backoff_max_s: float = 8.0
    max_tokens: int = 256  # per agent turn: short tool calls keep the server saturated
    temperature: float = 0.7
    tool_choice: str = "auto"  # "required" on vLLM >= 0.8.3 forces a call
    enable_thinking: bool = False  # Qwen3: off (sent as chat_template_kwargs)
    max_actions_per_turn: int = 3
    feed_posts: int = 10  # posts of the feed shown in a prompt
    replies_per_post: int = 2
    last_results: int = 6  # the agent's last actions shown, with what they returned
    seed_chars: int = 4000  # of the seed text in the shared system prompt
    text_chars: int = 280  # posts are cut to this in prompts
    known_claims: int = 8  # of the seed claims the agent knows, the strongest shown in its prompt
    max_failed_rounds: int = 3  # rounds in a row where every call failed -> the run fails
    extraction_max_tokens: int = 2048


_ENV: dict[str, tuple[str, type]] = {
    "SIMSWARM_LLM_API_KEY": ("api_key", str),
    "SIMSWARM_LLM_CONCURRENCY": ("concurrency", int),
    "SIMSWARM_LLM_TIMEOUT_S": ("timeout_s", float),
    "SIMSWARM_LLM_RETRIES": ("max_retries", int),
    "SIMSWARM_LLM_MAX_TOKENS": ("max_tokens", int),
    "SIMSWARM_LLM_TEMPERATURE": ("temperature", float),
    "SIMSWARM_LLM_TOOL_CHOICE": ("tool_choice", str),
    "SIMSWARM_LLM_FEED_POSTS": ("feed_posts", int),
    "SIMSWARM_LLM_KNOWN_CLAIMS": ("known_claims", int),
    "SIMSWARM_LLM_MAX_FAILED_ROUNDS": ("max_failed_rounds", int),
}


def config_from_env(url: str, model: str, env: Mapping[str, str] | None = None) -> LLMConfig:
    """An LLMConfig for `url`/`model` with overrides from `SIMSWARM_LLM_*` variables."""
    env = os.environ if env is None else env
    config = LLMConfig(url=url.rstrip("/"), model=model)
    for var, (field, kind) in _ENV.items():
        raw = env.get(var)
        if raw:
            try:
                setattr(config, field, kind(raw))
            except ValueError as exc:
                raise ValueError(f"{var}={raw!r} is not a valid {kind.__name__}") from exc
    return config
