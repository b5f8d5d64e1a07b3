"""How the fake OpenAI-compatible server chooses its replies: plausible, schema-driven, seeded.

Pure functions (no I/O) so the server module stays small. A reply to a request with `tools` picks a
tool the request offers and fills its arguments from the tool's JSON schema, taking ids
(`post_id`, `market_id`, `agent_id`) from the ids the prompt shows. A request with a JSON-schema
`response_format` named `entities` or `markets` gets a JSON document built from the prompt text.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "post_id": re.compile(r"post_id[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9_.\-]+)"),
    "market_id": re.compile(r"market_id[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9_.\-]+)"),
    "agent_id": re.compile(r"(?:author_id|agent_id)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9_.\-]+)"),
}
_CAPITALISED = re.compile(r"\b([A-Z][a-zA-Z&'\-]+(?:\s+(?:of|the|and|for|[A-Z][a-zA-Z&'\-]+)){0,3})")
_STOP = {
    "The",
    "A",
    "An",
    "In",
    "On",
    "At",
    "It",
    "Its",
    "This",
    "That",
    "These",
    "Those",
    "And",
    "But",
    "Or",
    "If",
    "When",
    "While",
    "After",
    "Before",
    "By",
    "For",
    "From",
    "With",
    "As",
    "We",
    "They",
    "He",
    "She",
    "You",
    "I",
    "Will",
    "What",
    "Who",
    "How",
    "Why",
    "Is",
    "Are",
    "Was",
    "Were",
}
_OPINIONS = (
    "I think this is more likely than people assume.",
    "Honestly I doubt it happens on this timeline.",
    "The evidence so far points one way, and the market is slow to see it.",
    "Everyone is overreacting; the fundamentals have not changed.",
    "Watching this closely. The next few weeks decide it.",
    "Strongly disagree with the consensus here.",
)
# Relative weights of the social and market actions when the prompt makes them possible.
_TOOL_WEIGHTS = {
    "create_post": 4.0,
    "reply": 2.5,
    "vote": 3.0,
    "repost": 1.0,
    "follow": 1.0,
    "buy": 2.5,
    "sell": 0.7,
    "comment_on_market": 1.0,
    "do_nothing": 0.6,
}


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """All text content of the messages, joined (the fake reads ids and names from it)."""
    parts: list[str] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return "\n".join(parts)


def visible_ids(text: str) -> dict[str, list[str]]:
    """Ids the prompt shows, by kind, in order of first appearance, de-duplicated."""
    out: dict[str, list[str]] = {}
    for kind, pattern in _ID_PATTERNS.items():
        out[kind] = list(dict.fromkeys(pattern.findall(text)))
    return out


def _tool_possible(name: str, params: dict[str, Any], ids: dict[str, list[str]]) -> bool:
    for prop in params.get("required", []):
        if prop in ids and not ids[prop]:
            return False
    return name in _TOOL_WEIGHTS or bool(params.get("properties") is not None)


def _value_for(prop: str, schema: dict[str, Any], ids: dict[str, list[str]], rng: random.Random) -> Any:
    if prop == "probability":  # the agent's declared belief, a probability
        return round(rng.uniform(0.05, 0.95), 3)
    if prop in ids and ids[prop]:
        return rng.choice(ids[prop][:20])
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        lo, hi = int(schema.get("minimum", 1)), int(schema.get("maximum", 10))
        return rng.choice([lo, hi]) if prop == "value" else rng.randint(lo, min(hi, lo + 20))
    if kind == "number":
        low = max(1.0, float(schema.get("minimum", schema.get("exclusiveMinimum", 0.0)) or 0.0))
        high = float(schema.get("maximum", low + 50.0))
        return round(rng.uniform(low, min(high, low + 40.0)), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    return rng.choice(_OPINIONS)


def tool_call_arguments(
    tool: dict[str, Any], ids: dict[str, list[str]], rng: random.Random
) -> dict[str, Any]:
    """Arguments for one tool, from its JSON schema: every required property, valid where possible."""
    params = tool.get("function", {}).get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    return {p: _value_for(p, props.get(p, {}), ids, rng) for p in params.get("required", list(props))}


def choose_tool_call(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], rng: random.Random
) -> tuple[str, dict[str, Any]]:
    """A plausible (tool name, arguments) among the offered tools, given what the prompt shows."""
    ids = visible_ids(prompt_text(messages))
    candidates: list[tuple[dict[str, Any], float]] = []
    for tool in tools:
        fn = tool.get("function", {})
        name = fn.get("name", "")
        if _tool_possible(name, fn.get("parameters") or {}, ids):
            candidates.append((tool, _TOOL_WEIGHTS.get(name, 1.0)))
    if not candidates:
        return "do_nothing", {}
    tool = rng.choices([c[0] for c in candidates], weights=[c[1] for c in candidates])[0]
    return tool["function"]["name"], tool_call_arguments(tool, ids, rng)


def _phrases(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for m in _CAPITALISED.finditer(text):
        phrase = m.group(1).strip()
        words = phrase.split()
        while words and words[0] in _STOP:
            words = words[1:]
        while words and words[-1].lower() in {"of", "the", "and", "for"}:
            words = words[:-1]
        if words and len(" ".join(words)) > 2:
            seen.setdefault(" ".join(words), None)
    return list(seen)


def entities_document(text: str, rng: random.Random, limit: int = 12) -> dict[str, Any]:
    """A JSON `{"entities": [...]}` from the capitalised phrases of the prompt (the seed text)."""
    entities = []
    for name in _phrases(text)[:limit]:
        entities.append(
            {
                "name": name,
                "type": rng.choice(["person", "organisation", "group", "viewpoint"]),
                "summary": f"{name} has a stake in how this turns out.",
                "stance": round(rng.uniform(-1.0, 1.0), 2),
            }
        )
    return {"entities": entities}


def seed_reading_document(text: str, rng: random.Random, limit: int = 12) -> dict[str, Any]:
    """A JSON seed reading: the question restated, the capitalised phrases as stakeholders, and every
    sentence of the text as a claim with a seeded direction (the fake cannot read; the shape is real)."""
    question = re.search(r"Question:\s*(.+)", text)
    statement = (question.group(1) if question else "the outcome happens").rstrip("?").strip()
    negated = bool(re.search(r"\b(fail to|not|never)\b", statement, re.IGNORECASE))
    names = _phrases(text.split("Text:", 1)[-1])[:limit]
    body = text.split("Text:", 1)[-1]
    sentences = [s.strip() for s in re.split(r"(?<=[.!])\s+", body) if len(s.split()) >= 4][:30]
    return {
        "proposition": {
            "statement": re.sub(r"^(Will|Does|Is)\s+", "", statement),
            "subject": names[0] if names else "",
            "negated": negated,
        },
        "stakeholders": [
            {
                "name": n,
                "type": rng.choice(["person", "organization", "public_body", "group"]),
                "aliases": [],
                "salience": round(rng.uniform(0.2, 1.0), 2),
                "wants": f"{n} has a stake in how this turns out.",
            }
            for n in names
        ],
        "claims": [
            {
                "text": s,
                "source": next((n for n in names if n in s), ""),
                "direction": round(rng.uniform(-1.0, 1.0), 2),
                "strength": round(rng.uniform(0.2, 1.0), 2),
                "date": "",
            }
            for s in sentences
        ],
    }


def markets_document(text: str, rng: random.Random, limit: int = 3) -> dict[str, Any]:
    """A JSON `{"markets": [...]}` of yes/no questions about the prompt's first named phrases."""
    markets = []
    for name in _phrases(text)[:limit]:
        markets.append(
            {
                "question": f"Will {name} be central to the outcome within the forecast window?",
                "initial_price_yes": round(rng.uniform(0.2, 0.8), 2),
                "rationale": f"{name} appears prominently in the seed.",
            }
        )
    return {"markets": markets}


def json_reply(
    messages: list[dict[str, Any]], response_format: dict[str, Any] | None, rng: random.Random
) -> str:
    """The content of a reply to a request without tools: JSON when asked for, prose otherwise."""
    name = ""
    if response_format:
        name = str((response_format.get("json_schema") or {}).get("name", ""))
    users = [m for m in messages if m.get("role") == "user"]
    text = prompt_text(users[:1] or messages)  # the first user message holds the seed
    if name == "entities" or (not name and '"entities"' in text):
        return json.dumps(entities_document(text, rng))
    if name == "seed_reading":
        return json.dumps(seed_reading_document(text, rng))
    if name == "markets" or (not name and '"markets"' in text):
        return json.dumps(markets_document(text, rng))
    return "Noted."


def garbage_tool_call(tools: list[dict[str, Any]], rng: random.Random) -> tuple[str, str]:
    """A broken tool call: truncated JSON arguments, or a tool that was never offered."""
    if rng.random() < 0.5 and tools:
        name = rng.choice(tools)["function"]["name"]
        return name, '{"text": "unterminated'
    return "launch_rocket", json.dumps({"target": "moon"})


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token), enough for usage figures."""
    return max(1, len(text) // 4)
