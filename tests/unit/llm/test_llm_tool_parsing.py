"""Tool-call parsing: valid calls become actions; anything else a failed action, never an exception."""

from __future__ import annotations

from engine.llm.tools import INVALID, parse_tool_calls, tool_schemas
from engine.policies.base import ACTION_TYPES


def _msg(*calls: tuple[str, str]) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ],
    }


def test_schemas_cover_every_action_with_required_args() -> None:
    names = [t["function"]["name"] for t in tool_schemas()]
    assert names == list(ACTION_TYPES)
    vote = next(t for t in tool_schemas() if t["function"]["name"] == "vote")["function"]["parameters"]
    assert vote["required"] == ["post_id", "value", "probability"] and vote["properties"]["value"][
        "enum"
    ] == [1, -1]
    # Every action declares the agent's probability: its belief comes from it (docs/engine.md).
    for tool in tool_schemas():
        assert "probability" in tool["function"]["parameters"]["required"], tool["function"]["name"]


def test_valid_calls_become_actions_in_order() -> None:
    actions, how = parse_tool_calls(
        _msg(("vote", '{"post_id": "p1", "value": 1}'), ("create_post", '{"text": "hi"}')), 3
    )
    assert how == "ok"
    assert [(a.type, a.args) for a in actions] == [
        ("vote", {"post_id": "p1", "value": 1}),
        ("create_post", {"text": "hi"}),
    ]


def test_bad_json_arguments_are_a_failed_action() -> None:
    actions, how = parse_tool_calls(_msg(("reply", '{"post_id": "p1", "text": "unterminated')), 3)
    assert how == "malformed" and actions[0].type == INVALID
    assert "not valid JSON" in actions[0].args["error"] and actions[0].args["tool"] == "reply"


def test_non_object_arguments_and_unknown_tools_are_failed_actions() -> None:
    actions, how = parse_tool_calls(_msg(("vote", "[1, 2]"), ("launch_rocket", "{}")), 3)
    assert how == "malformed"
    assert actions[0].type == INVALID and actions[1].type == "launch_rocket"
    assert actions[1].type not in ACTION_TYPES


def test_no_tool_call_is_do_nothing() -> None:
    actions, how = parse_tool_calls({"role": "assistant", "content": "I'd rather not."}, 3)
    assert how == "no_tool_call" and [a.type for a in actions] == ["do_nothing"]


def test_inline_hermes_tool_call_in_content_is_recovered() -> None:
    content = 'Sure.\n<tool_call>\n{"name": "repost", "arguments": {"post_id": "p3"}}\n</tool_call>'
    actions, how = parse_tool_calls({"role": "assistant", "content": content}, 3)
    assert how == "ok" and actions[0].type == "repost" and actions[0].args == {"post_id": "p3"}


def test_calls_beyond_the_limit_are_dropped_and_empty_arguments_are_ok() -> None:
    actions, _ = parse_tool_calls(_msg(*[("do_nothing", "")] * 5), 2)
    assert len(actions) == 2 and all(a.type == "do_nothing" and a.args == {} for a in actions)
