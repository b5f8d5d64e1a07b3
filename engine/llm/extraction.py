"""Entity extraction and market derivation by the LLM: strict JSON, one repair, then give up.

Both ask for a JSON document (a `response_format` JSON schema, which vLLM enforces with guided
decoding, and the shape spelled out in the prompt for servers that ignore it), validate it with
msgspec, and on a parse or validation error send the error back once. A second failure, or an
endpoint that cannot be reached, returns None so the engine falls back to its deterministic path.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, TypeVar

import msgspec

from contracts.spec import MarketSpec, dedupe_markets
from engine.llm.client import ChatClient, LLMCallFailed

log = logging.getLogger(__name__)

SEED_CHARS_FOR_EXTRACTION = 24_000


class EntityOut(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    type: Annotated[str, msgspec.Meta(max_length=40)] = "group"
    summary: Annotated[str, msgspec.Meta(max_length=600)] = ""
    stance: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] = 0.0
    weight: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)] = 1.0


class EntitiesDoc(msgspec.Struct, kw_only=True):
    entities: Annotated[list[EntityOut], msgspec.Meta(min_length=1, max_length=32)]


class MarketOut(msgspec.Struct, kw_only=True):
    question: Annotated[str, msgspec.Meta(min_length=5, max_length=200)]
    initial_price_yes: Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)] = 0.5
    rationale: Annotated[str, msgspec.Meta(max_length=600)] = ""


class MarketsDoc(msgspec.Struct, kw_only=True):
    markets: Annotated[list[MarketOut], msgspec.Meta(min_length=1, max_length=10)]


class PropositionOut(msgspec.Struct, kw_only=True):
    statement: Annotated[str, msgspec.Meta(min_length=3, max_length=300)]
    subject: Annotated[str, msgspec.Meta(max_length=120)] = ""
    negated: bool = False


class StakeholderOut(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    type: Annotated[str, msgspec.Meta(max_length=40)] = "organization"
    aliases: Annotated[list[Annotated[str, msgspec.Meta(max_length=80)]], msgspec.Meta(max_length=8)] = []
    salience: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5
    wants: Annotated[str, msgspec.Meta(max_length=400)] = ""


class ClaimOut(msgspec.Struct, kw_only=True):
    text: Annotated[str, msgspec.Meta(min_length=3, max_length=400)]
    source: Annotated[str, msgspec.Meta(max_length=80)] = ""
    direction: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]
    strength: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5
    date: Annotated[str, msgspec.Meta(max_length=40)] = ""


class SeedDoc(msgspec.Struct, kw_only=True):
    proposition: PropositionOut
    stakeholders: Annotated[list[StakeholderOut], msgspec.Meta(min_length=1, max_length=64)]
    claims: Annotated[list[ClaimOut], msgspec.Meta(min_length=1, max_length=120)]


D = TypeVar("D", EntitiesDoc, MarketsDoc, SeedDoc)

ENTITIES_INSTRUCTIONS = """You identify the stakeholders in a text with respect to a prediction question.
Stakeholders are people, organisations, groups, factions or viewpoints that act on or care about the outcome.
Answer with one JSON object and nothing else, of this shape:
{"entities": [{"name": "...", "type": "person|organization|group|faction|viewpoint",
  "summary": "what it wants or expects regarding the question, one sentence",
  "stance": <number from -1 (expects or wants NO) to 1 (expects or wants YES)>,
  "weight": <how prominent it is in the text, 1 to 10>}]}
List between 4 and 16 stakeholders, most important first. Use names as written in the text."""

MARKETS_INSTRUCTIONS = """You design binary prediction markets about a question and its background text.
Each market is a yes/no question that will be clearly resolvable at the end of the forecast window,
at most 200 characters, with your estimate of the probability of YES as initial_price_yes (0.05 to 0.95).
The first market must be the question itself, restated as a yes/no question if needed.
Answer with one JSON object and nothing else, of this shape:
{"markets": [{"question": "...", "initial_price_yes": 0.5, "rationale": "one sentence"}]}"""

SEED_INSTRUCTIONS = """You read a text for a prediction question and report what it says, as evidence.
1. proposition: the question as a positive statement A ("the strike ends with a deal within 30 days"); set
   "negated": true when the question asks for the opposite of A ("Will the strike fail to end...?").
2. stakeholders: the people, organisations, public bodies and groups that act on or care about the outcome,
   with their type (person|organization|public_body|group), other names the text uses for them (an acronym,
   a surname), salience (0 to 1: how much the text is about them) and what they want regarding A.
   Not stakeholders: headlines, sentence fragments, objects or products, places standing for nothing.
   List every stakeholder that matters, most salient first: a long text has more than a short one.
3. claims: the statements of the text that bear on A, in order, each with who asserts it (a stakeholder name,
   or "" for the text itself), its direction toward A (-1 against .. 1 for) judged from the facts, not the
   tone ("only 9 of 31 members back it" is against passage however upbeat), its strength (0 to 1) and its
   date when the text gives one.
Answer with one JSON object and nothing else, of this shape:
{"proposition": {"statement": "...", "subject": "...", "negated": false},
 "stakeholders": [{"name": "...", "type": "...", "aliases": [], "salience": 0.5, "wants": "..."}],
 "claims": [{"text": "...", "source": "...", "direction": 0.0, "strength": 0.5, "date": ""}]}"""

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def _strip(content: str) -> str:
    text = re.sub(r"<think>.*?</think>", "", content, flags=re.DOTALL).strip()
    return _FENCE.sub("", text).strip()


async def _ask_json(
    client: ChatClient,
    name: str,
    kind: type[D],
    instructions: str,
    seed_text: str,
    goal: str,
    token_share: int = 1,
) -> D | None:
    """The model's reading of the seed and goal as a `kind` document (one repair asked), or None.

    `token_share` multiplies the configured extraction token budget (a longer document needs more).
    """
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": instructions},
        {"role": "user", "content": _user_text(seed_text, goal)},
    ]
    body: dict[str, Any] = {
        "max_tokens": token_share * client.config.extraction_max_tokens,
        "temperature": 0.2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": msgspec.json.schema(kind)},
        },
        "chat_template_kwargs": {"enable_thinking": client.config.enable_thinking},
    }
    for attempt in range(2):
        try:
            message, _ = await client.complete({**body, "messages": messages})
        except LLMCallFailed as exc:
            log.warning("%s extraction: the model could not be asked (%s); using the fallback", name, exc)
            return None
        content = message.get("content") or ""
        try:
            return msgspec.json.decode(_strip(content).encode(), type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            error = str(exc)
        log.info(
            "%s extraction: invalid JSON (%s)%s", name, error, "; asking for a repair" if not attempt else ""
        )
        messages = [
            *messages,
            {"role": "assistant", "content": content},
            {
                "role": "user",
                "content": f"That is not valid: {error}. Reply with the corrected JSON object only.",
            },
        ]
    log.warning("%s extraction: still invalid after one repair; using the fallback", name)
    return None


def _user_text(seed_text: str, goal: str) -> str:
    seed = seed_text.strip()[:SEED_CHARS_FOR_EXTRACTION]
    return f"Question: {' '.join(goal.split())}\n\nText:\n{seed}"


async def extract_entities(client: ChatClient, seed_text: str, goal: str) -> list[dict[str, Any]] | None:
    """Stakeholder dicts (name, type, summary, stance, weight) for engine.entities, or None."""
    doc = await _ask_json(client, "entities", EntitiesDoc, ENTITIES_INSTRUCTIONS, seed_text, goal)
    if doc is None:
        return None
    return [msgspec.to_builtins(e) for e in doc.entities]


async def derive_markets(
    client: ChatClient, seed_text: str, goal: str, limit: int
) -> list[MarketSpec] | None:
    """Up to `limit` de-duplicated markets, prices clamped to [0.05, 0.95], or None."""
    doc = await _ask_json(client, "markets", MarketsDoc, MARKETS_INSTRUCTIONS, seed_text, goal)
    if doc is None:
        return None
    markets = dedupe_markets(
        [
            MarketSpec(question=m.question, initial_price_yes=m.initial_price_yes, rationale=m.rationale)
            for m in doc.markets
        ],
        limit,
    )
    return markets or None


async def read_seed(client: ChatClient, seed_text: str, goal: str) -> dict[str, Any] | None:
    """The seed read by the model (proposition, stakeholders, claims) as a dict for
    engine.reading.from_llm, or None: the engine then reads the seed with its rules."""
    doc = await _ask_json(client, "seed_reading", SeedDoc, SEED_INSTRUCTIONS, seed_text, goal, token_share=2)
    return msgspec.to_builtins(doc) if doc is not None else None
