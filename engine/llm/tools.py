"""Tool schemas for the agent actions, and the parsing of a model's tool calls into Actions.

Parsing never raises: a call the engine cannot use becomes an Action whose type is outside
ACTION_TYPES (`invalid_tool_call`, or the unknown tool's own name), which the world records as a
failed action with the reason in its args, so the agent sees the failure next round.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.policies.base import ACTION_TYPES, Action

INVALID = "invalid_tool_call"
LLM_ERROR = "llm_error"

_TEXT = {"type": "string", "description": "What you write, in your own voice (at most 280 characters)."}
_POST = {"type": "string", "description": "The post_id of a post in your feed."}
_MARKET = {"type": "string", "description": "The market_id of a market."}
_OUTCOME = {"type": "string", "enum": ["yes", "no"]}
PROBABILITY = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "Your probability, now, that the question resolves YES (0 to 1). It is your belief.",
}
_CLAIM = {
    "type": "string",
    "description": "Optional: the claim_id of the claim you argue (from 'What you know').",
}

_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "create_post": ("Publish a new post.", {"text": _TEXT, "claim_id": _CLAIM}),
    "reply": ("Reply to a post in your feed.", {"post_id": _POST, "text": _TEXT, "claim_id": _CLAIM}),
    "vote": (
        "Like (1) or dislike (-1) a post in your feed; once per post.",
        {"post_id": _POST, "value": {"type": "integer", "enum": [1, -1]}},
    ),
    "repost": ("Share a post from your feed with your followers.", {"post_id": _POST}),
    "follow": (
        "Follow another participant by their agent_id.",
        {"agent_id": {"type": "string", "description": "The author_id of a post author."}},
    ),
    "buy": (
        "Buy shares of an outcome, spending `amount` of your cash.",
        {
            "market_id": _MARKET,
            "outcome": _OUTCOME,
            "amount": {"type": "number", "exclusiveMinimum": 0, "description": "Cash to spend."},
        },
    ),
    "sell": (
        "Sell shares of an outcome you hold.",
        {
            "market_id": _MARKET,
            "outcome": _OUTCOME,
            "shares": {"type": "number", "exclusiveMinimum": 0, "description": "How many shares."},
        },
    ),
    "comment_on_market": ("Comment publicly on a market.", {"market_id": _MARKET, "text": _TEXT}),
    "do_nothing": ("Skip this round.", {}),
}


def tool_schemas() -> list[dict[str, Any]]:
    """The `tools` of every request: the same list, in the same order, every time (prefix caching).

    Every tool takes `probability`, the agent's belief that the question resolves YES: the world
    makes it the agent's belief and the stance of what it writes (docs/engine.md, "Policies")."""
    out = []
    for name in ACTION_TYPES:
        description, props = _TOOLS[name]
        required = [p for p in props if p != "claim_id"] + ["probability"]
        out.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": description,
                    "parameters": {
                        "type": "object",
                        "properties": {**props, "probability": PROBABILITY},
                        "required": required,
                    },
                },
            }
        )
    return out


# Qwen3's hermes format, when the server's parser missed it and left it in the content.
_INLINE_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def _invalid(tool: str, error: str, raw: str = "") -> Action:
    args: dict[str, Any] = {"tool": tool[:60], "error": error}
    if raw:
        args["raw"] = raw[:200]
    return Action(type=INVALID, args=args)


def _action(name: Any, arguments: Any) -> Action:
    if not isinstance(name, str) or not name:
        return _invalid("?", "the tool call has no function name")
    if isinstance(arguments, dict):
        args = arguments
    elif arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        args = {}
    elif isinstance(arguments, str):
        try:
            args = json.loads(arguments)
        except json.JSONDecodeError as exc:
            return _invalid(name, f"arguments are not valid JSON ({exc.msg})", arguments)
        if not isinstance(args, dict):
            return _invalid(name, "arguments must be a JSON object", arguments)
    else:
        return _invalid(name, "arguments must be a JSON object")
    # An unknown tool keeps its name: the world records it as a failed, unknown action.
    return Action(type=name, args=args)


def parse_tool_calls(message: dict[str, Any], limit: int) -> tuple[list[Action], str]:
    """Actions from an assistant message, and how it went: "ok", "malformed" or "no_tool_call".

    No tool call at all (a refusal, or prose) is `do_nothing`. At most `limit` actions are kept.
    """
    calls = message.get("tool_calls") or []
    if not calls:
        content = message.get("content") or ""
        inline = _INLINE_CALL.findall(content) if isinstance(content, str) else []
        calls = []
        for blob in inline:
            try:
                parsed = json.loads(blob)
            except ValueError:
                return [_invalid("?", "an inline <tool_call> is not valid JSON", blob)], "malformed"
            calls.append({"function": {"name": parsed.get("name"), "arguments": parsed.get("arguments")}})
        if not calls:
            return [Action(type="do_nothing")], "no_tool_call"
    actions: list[Action] = []
    for call in calls[:limit]:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            actions.append(_invalid("?", "a tool call without a function"))
            continue
        actions.append(_action(fn.get("name"), fn.get("arguments")))
    malformed = any(a.type == INVALID or a.type not in ACTION_TYPES for a in actions)
    return actions, "malformed" if malformed else "ok"


def failed_call(reason: str) -> Action:
    """The action recorded when the model could not be asked at all (after retries)."""
    return Action(type=LLM_ERROR, args={"error": reason[:300]})
