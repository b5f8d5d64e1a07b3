"""A prediction question proposed by the model for a seed (`POST /api/ai/generate-goal`).

Uses the platform's OpenAI-compatible server (`SIMSWARM_LLM_URL`, `SIMSWARM_LLM_MODEL`, the
engine's `SIMSWARM_LLM_*` knobs) through the engine's chat client. The reply must be one usable
question (what a job's `goal` accepts); anything else is an error, never a made-up question.
"""

from __future__ import annotations

import json
import re

from contracts.spec import GOAL_MAX_CHARS
from contracts.text import control_character_problem
from engine.llm.client import ChatClient, LLMCallFailed
from engine.llm.config import config_from_env

SEED_CHARS_IN_PROMPT = 12_000
GOAL_MIN_CHARS = 5
TIMEOUT_S = 60.0

SYSTEM = (
    "You write the prediction question for a forecasting simulation. Read the document and propose ONE "
    "question about a concrete, verifiable future outcome it raises, answerable yes or no, with a time "
    'horizon (e.g. "within 60 days"). Answer with JSON only: {"goal": "<the question>"}.'
)
_PREFIX = re.compile(r"^\s*(goal|question)\s*:\s*", re.I)


class GoalError(Exception):
    """The model could not give a usable question; `code` is the API's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_goal(content: str) -> str:
    """The question in a reply: `{"goal": ...}`, or the first line of prose. GoalError unless it is one
    line of 5..1,000 characters ending in a question mark."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    goal: str | None = None
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("goal"), str):
            goal = data["goal"]
    except ValueError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        goal = _PREFIX.sub("", lines[0]) if lines else None
    goal = (goal or "").strip().strip('"').strip()
    if (
        not GOAL_MIN_CHARS <= len(goal) <= GOAL_MAX_CHARS
        or not goal.endswith("?")
        or control_character_problem(goal, multiline=False)
    ):
        raise GoalError("llm_bad_reply", "the model's reply is not a usable question; try again")
    return goal


async def generate_goal(url: str, model: str | None, seed_text: str, category: str) -> str:
    """Ask the model for a question about `seed_text`; GoalError(`llm_failed` / `llm_bad_reply`)."""
    config = config_from_env(url, model or "")
    config.max_retries = min(config.max_retries, 1)
    config.timeout_s = min(config.timeout_s, TIMEOUT_S)
    config.concurrency = 1
    client = ChatClient(config)
    seed = seed_text[:SEED_CHARS_IN_PROMPT]
    body = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Category: {category}\n\nDocument:\n{seed}"},
        ],
        "max_tokens": 200,
        "temperature": 0.3,
    }
    try:
        message, _usage = await client.complete(body)
    except LLMCallFailed as exc:
        raise GoalError("llm_failed", f"the model server did not answer usably: {exc}") from None
    finally:
        await client.aclose()
    return parse_goal(str(message.get("content") or ""))
