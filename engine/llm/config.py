"""The LLM policy's knobs, with defaults tuned for one vLLM server; each one also `SIMSWARM_LLM_<FIELD>`."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from engine.settings import EnvSettings


class LLMConfig(EnvSettings):
    """How the engine talks to an OpenAI-compatible chat endpoint.

    Keyword arguments win over the environment: `SIMSWARM_LLM_<FIELD>` (`SIMSWARM_LLM_URL`,
    `SIMSWARM_LLM_CONCURRENCY`, ...), but `SIMSWARM_MODEL` for the model (the pod's, as vLLM serves it)
    and `SIMSWARM_LLM_RETRIES` for `max_retries`.
    """

    model_config = SettingsConfigDict(env_prefix="SIMSWARM_LLM_")

    url: str  # base URL ending in /v1
    model: str = Field("", validation_alias="SIMSWARM_MODEL")  # "": the first model the server lists
    api_key: str | None = Field(None, repr=False)  # sent as a bearer token when set (vLLM needs none)
    concurrency: int = 256  # requests in flight at most
    timeout_s: float = 120.0  # per HTTP request
    connect_timeout_s: float = 10.0
    # Extra attempts on transient errors (connect, timeout, 429, 5xx).
    max_retries: int = Field(3, validation_alias="SIMSWARM_LLM_RETRIES")
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

    @field_validator("url", mode="after")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")


def config_from_env(url: str | None = None, model: str | None = None) -> LLMConfig:
    """An LLMConfig for `url`/`model` (else SIMSWARM_LLM_URL / SIMSWARM_MODEL) with the `SIMSWARM_LLM_*`
    knobs of the environment. Raises ValueError naming a variable that is missing or not valid."""
    return LLMConfig.from_env(url=url, model=model)
