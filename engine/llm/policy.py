"""The LLM agent policy: one tool-calling chat completion per active agent per round."""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import Any

from engine.llm.client import ChatClient, LLMCallFailed
from engine.llm.prompts import PromptBuilder
from engine.llm.tools import failed_call, parse_tool_calls, tool_schemas
from engine.policies.base import Action, Observation

log = logging.getLogger(__name__)


class LLMUnavailable(RuntimeError):
    """Every call of several rounds in a row failed: the endpoint is down, the run cannot go on."""


class LLMPolicy:
    """Implements engine.policies.base.AgentPolicy against an OpenAI-compatible endpoint.

    Bad model output never raises: it becomes failed actions (see engine.llm.tools). Only an
    endpoint that fails every call for `max_failed_rounds` rounds in a row stops the run.
    """

    name = "llm"

    def __init__(self, client: ChatClient, prompts: PromptBuilder, random_seed: int = 0) -> None:
        self.client = client
        self.prompts = prompts
        self.random_seed = random_seed
        self.tools = tool_schemas()
        self.refusals = 0
        self.malformed = 0
        self.failed_calls = 0
        self._failed_rounds = 0

    def request_body(self, obs: Observation) -> dict[str, Any]:
        """The chat-completions body of one agent turn (without the model)."""
        c = self.client.config
        return {
            "messages": self.prompts.messages(obs),
            "tools": self.tools,
            "tool_choice": c.tool_choice,
            "max_tokens": c.max_tokens,
            "temperature": c.temperature,
            "seed": zlib.crc32(f"{self.random_seed}/{obs.agent_id}/{obs.round}".encode()),
            "chat_template_kwargs": {"enable_thinking": c.enable_thinking},
        }

    async def _turn(self, obs: Observation) -> tuple[list[Action], bool]:
        try:
            message, _ = await self.client.complete(self.request_body(obs))
        except LLMCallFailed as exc:
            self.failed_calls += 1
            return [failed_call(f"the model could not be asked: {exc}")], False
        actions, how = parse_tool_calls(message, self.client.config.max_actions_per_turn)
        if how == "no_tool_call":
            self.refusals += 1
        elif how == "malformed":
            self.malformed += 1
        return actions, True

    async def decide(self, round: int, observations: list[Observation]) -> list[list[Action]]:
        """All active agents' turns of a round, concurrently (bounded by the client)."""
        if not observations:
            return []
        outcomes = await asyncio.gather(*(self._turn(obs) for obs in observations))
        answered = sum(1 for _, ok in outcomes if ok)
        if answered == 0:
            self._failed_rounds += 1
            last = outcomes[-1][0][0].args.get("error", "")
            log.warning("round %d: every LLM call failed (%d in a row): %s", round, self._failed_rounds, last)
            if self._failed_rounds >= self.client.config.max_failed_rounds:
                raise LLMUnavailable(
                    f"the LLM endpoint failed every call for {self._failed_rounds} rounds in a row; "
                    f"last error: {last}"
                )
        else:
            self._failed_rounds = 0
        return [actions for actions, _ in outcomes]

    def counters(self) -> dict[str, float]:
        """Client counters plus outcome counts, as `llm_*` floats."""
        out = self.client.counters.snapshot()
        out.update(
            {
                "llm_refusals": float(self.refusals),
                "llm_malformed_calls": float(self.malformed),
                "llm_failed_calls": float(self.failed_calls),
            }
        )
        return out

    async def aclose(self) -> None:
        await self.client.aclose()
