"""The LLM side of the engine: the tool-calling agent policy, entity extraction, market derivation.

The engine core imports this lazily when `spec.policy == "llm"`:

    components = build_llm_components(spec)
    components.policy                       # an AgentPolicy
    await components.read_seed(seed_text, goal)             # dict | None (None: the rule-based reading)
    await components.extract_entities(seed_text, goal)      # list[dict] | None (None: fallback)
    await components.derive_markets(seed_text, goal, limit)  # list[MarketSpec] | None
    components.counters()                   # llm_* counters for progress reports and the manifest
    await components.aclose()
"""

from __future__ import annotations

from typing import Any

from contracts.spec import MarketSpec
from contracts.worker import RunSpec
from engine.llm import extraction
from engine.llm.client import ChatClient, Counters, LLMCallFailed
from engine.llm.config import LLMConfig, config_from_env
from engine.llm.policy import LLMPolicy, LLMUnavailable
from engine.llm.prompts import PromptBuilder
from engine.settings import SettingsError

__all__ = [
    "ChatClient",
    "Counters",
    "LLMCallFailed",
    "LLMComponents",
    "LLMConfig",
    "LLMPolicy",
    "LLMUnavailable",
    "PromptBuilder",
    "build_llm_components",
    "config_from_env",
]


class LLMComponents:
    """Everything the engine needs from the LLM, sharing one client (one pool, one set of counters)."""

    def __init__(self, client: ChatClient, policy: LLMPolicy) -> None:
        self.client = client
        self.policy = policy

    async def extract_entities(self, seed_text: str, goal: str) -> list[dict[str, Any]] | None:
        """Stakeholders (name, type, summary, stance, weight), or None to use the fallback."""
        return await extraction.extract_entities(self.client, seed_text, goal)

    async def read_seed(self, seed_text: str, goal: str) -> dict[str, Any] | None:
        """The proposition, stakeholders and claims as read by the model, or None to use the rules."""
        return await extraction.read_seed(self.client, seed_text, goal)

    async def derive_markets(self, seed_text: str, goal: str, limit: int) -> list[MarketSpec] | None:
        """Up to `limit` markets, or None to use the heuristic derivation."""
        return await extraction.derive_markets(self.client, seed_text, goal, limit)

    def counters(self) -> dict[str, float]:
        return self.policy.counters()

    async def aclose(self) -> None:
        await self.client.aclose()


def build_llm_components(spec: RunSpec, config: LLMConfig | None = None) -> LLMComponents:
    """Components for a run: endpoint from `spec.llm_url` (else $SIMSWARM_LLM_URL), model from
    `spec.model` (else $SIMSWARM_MODEL, else the first model the server lists). Raises ValueError
    when no endpoint is known."""
    if config is None:
        try:
            config = config_from_env(spec.llm_url or None, spec.model or None)
        except SettingsError as exc:
            if "SIMSWARM_LLM_URL" in exc.refused:
                raise ValueError(
                    "policy 'llm' needs an OpenAI-compatible endpoint: set spec.llm_url or SIMSWARM_LLM_URL"
                ) from exc
            raise
    client = ChatClient(config)
    prompts = PromptBuilder(config, spec.seed_text, spec.goal, spec.forecast_days)
    return LLMComponents(client, LLMPolicy(client, prompts, random_seed=spec.random_seed))
