"""The LLM-written report (docs/report.md, "LLM-written report"): a bounded tool loop over the artifacts.

The model gets the question, the computed verdict and a list of tools that read the run's
artifacts (market curves, top posts, claims, stakeholders, coalitions, an agent's trajectory,
trades, the computed findings). It must finish by calling `write_report` with the seven sections.
Every bracketed citation in them — `[p12]`, `[t40]`, `[market-id round 5]`, `[c3]` — is checked to
exist in the artifacts, and Key Findings must cite something; a reply that fails the check gets
the problems back as the tool's result and may repair them (at most `MAX_REPAIRS` times). Anything
else — no endpoint answer, malformed replies, too many turns, citations still wrong — returns
None, and the caller keeps the computed report.

Talks to any OpenAI-compatible chat-completions endpoint (vLLM, the test server in tests/fakes).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.reporter import analysis as an
from services.reporter import explain as ex
from services.reporter.artifacts import RunArtifacts
from services.reporter.compose import BELIEF_CHART, MARKET_CHART, SECTION_TITLES, Report

log = logging.getLogger(__name__)

MAX_TURNS = 8
MAX_REPAIRS = 2
RESULT_CHARS = 6_000  # a tool result is cut to this many characters
_CITATION = re.compile(r"(?<!!)\[([^\]\n]{1,120})\](?!\()")
_KEYS = {title: title.lower().replace(" ", "_") for title in SECTION_TITLES}


@dataclass(frozen=True)
class ReporterLLM:
    """Where the reporter's model is: an OpenAI-compatible base URL (ending in /v1) and a model id."""

    url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 120.0
    max_turns: int = MAX_TURNS


def _tool(
    name: str, description: str, properties: dict[str, Any] | None = None, required: list[str] | None = None
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties or {}, "required": required or []},
        },
    }


READ_TOOLS: list[dict[str, Any]] = [
    _tool(
        "get_findings",
        "The computed findings (who moved the price, which claims, when, who resisted) "
        "with their citations: a starting point to check and deepen.",
    ),
    _tool(
        "get_market_curve",
        "A market's question and its YES price and volume after every round.",
        {"market_id": {"type": "string"}},
        ["market_id"],
    ),
    _tool(
        "get_top_posts",
        "The most engaged posts (likes + reposts + replies), optionally of some rounds.",
        {
            "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            "round_from": {"type": "integer", "minimum": 0},
            "round_to": {"type": "integer", "minimum": 0},
        },
    ),
    _tool(
        "get_claims",
        "The seed's claims: who asserts each, its direction toward YES, when it arrives, "
        "and how many posts argued it with how much engagement.",
    ),
    _tool(
        "get_stakeholders",
        "The stakeholders with type, stance in the seed, salience, agents, mean "
        "start and end position, and the net price move their agents' trades caused.",
    ),
    _tool(
        "get_coalitions",
        "Coalitions of agents by final stance and mutual follows, with members, "
        "stakeholders and shared claims.",
    ),
    _tool(
        "get_agent",
        "One agent's profile, trajectory (position per round) and its posts.",
        {"agent_id": {"type": "string"}},
        ["agent_id"],
    ),
    _tool(
        "get_trades",
        "The trades that moved a market most, with who made them and the price before and after.",
        {"market_id": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 20}},
        ["market_id"],
    ),
]
WRITE_TOOL = _tool(
    "write_report",
    "Finish: the report's seven sections in markdown. Cite posts [p12], trades [t40], curves "
    "[market-id round 5] and claims [c3] only by ids the tools showed you.",
    {key: {"type": "string"} for key in _KEYS.values()},
    list(_KEYS.values()),
)

SYSTEM = (
    "You are the analyst of a SimSwarm run: a swarm of agents that read a seed text, argued on a social "
    "platform and traded on prediction markets about a question. Explain the forecast, do not restate "
    "counters: which claims and which stakeholders moved the price and beliefs, when (in weeks of the "
    "forecast horizon), and who resisted. Name coalitions by their members and the claims they share. "
    "Read the run with the tools, then call write_report once with every section. Key Findings: four "
    "numbered findings, each with at least one citation. The Verdict is one sentence. Cite only ids the "
    "tools returned; every citation is checked."
)


class _Invalid(Exception):
    """The model's reply cannot be used (protocol or content), with the reason."""


def known_citations(art: RunArtifacts) -> set[str]:
    """Every bracketed reference the report may use: post, trade and claim ids, and curve rounds."""
    refs = {p.post_id for p in art.posts} | {t.trade_id for t in art.trades}
    refs |= {f"{c.market_id} round {p.round}" for c in art.curves for p in c.points}
    refs |= set(ex.claims_by_id(art))
    return refs


def check_sections(sections: dict[str, str], known: set[str]) -> list[str]:
    """What is wrong with the sections the model wrote (empty when nothing)."""
    problems = [
        f"section {title!r} is missing or empty"
        for title, key in _KEYS.items()
        if not str(sections.get(key, "")).strip()
    ]
    unknown = sorted({ref for text in sections.values() for ref in _CITATION.findall(str(text))} - known)
    if unknown:
        problems.append(
            "these citations do not exist in the artifacts: "
            + ", ".join(f"[{u}]" for u in unknown)
            + "; cite only ids the tools returned"
        )
    if not _CITATION.findall(str(sections.get(_KEYS["Key Findings"], ""))):
        problems.append("Key Findings must cite posts, trades, curves or claims")
    return problems


# -- the tools -------------------------------------------------------------------------------------


class ArtifactTools:
    """Answers the read tools from the decoded artifacts (and the computed report)."""

    def __init__(self, art: RunArtifacts, computed: Report) -> None:
        self.art, self.computed = art, computed
        self.names = an.agent_names(art)

    def call(self, name: str, args: dict[str, Any]) -> Any:
        handler = getattr(self, f"_{name}", None)
        if name not in {t["function"]["name"] for t in READ_TOOLS} or handler is None:
            raise _Invalid(f"unknown tool {name!r}")
        return handler(**{k: v for k, v in args.items() if isinstance(k, str)})

    def _get_findings(self) -> Any:
        return [
            {"title": f.title, "text": f.text, "citations": [str(c) for c in f.citations]}
            for f in self.computed.findings
        ]

    def _get_market_curve(self, market_id: str = "", **_: Any) -> Any:
        for c in self.art.curves:
            if c.market_id == market_id:
                return {
                    "market_id": c.market_id,
                    "question": c.question,
                    "points": [
                        {
                            "round": p.round,
                            "price_yes": round(p.price_yes, 3),
                            "volume": round(p.volume, 1),
                            "cite": f"[{c.market_id} round {p.round}]",
                        }
                        for p in c.points
                    ],
                }
        return {"error": f"no market {market_id!r}", "markets": [c.market_id for c in self.art.curves]}

    def _get_top_posts(
        self, limit: int = 8, round_from: int | None = None, round_to: int | None = None, **_: Any
    ) -> Any:
        lo = int(round_from) if isinstance(round_from, int) else 0
        hi = int(round_to) if isinstance(round_to, int) else self.art.rounds
        limit = max(1, min(20, int(limit) if isinstance(limit, int) else 8))
        return [
            {
                "post_id": p.post_id,
                "author": self.names.get(an.resolve_agent(p.author, self.names), p.author),
                "round": p.round,
                "text": p.text[:300],
                "engagement": an.engagement(p),
                "stance": p.stance,
                "claim_id": p.claim_id,
            }
            for p in an.top_posts(self.art, limit, range(lo, hi + 1))
        ]

    def _get_claims(self, **_: Any) -> Any:
        weights = {w.claim.claim_id: w for w in ex.claim_weights(self.art)}
        claims = self.art.claims.claims if self.art.claims is not None else []
        return [
            {
                "claim_id": c.claim_id,
                "text": c.text,
                "source": c.source,
                "label": c.label,
                "stance": c.stance,
                "arrival_round": c.arrival_round,
                "date": c.date,
                "posts": len(weights[c.claim_id].posts) if c.claim_id in weights else 0,
                "engagement": weights[c.claim_id].engagement if c.claim_id in weights else 0,
            }
            for c in claims
        ]

    def _get_stakeholders(self, **_: Any) -> Any:
        sh = ex.stakeholders(self.art)
        curve = an.primary_curve(self.art)
        flows = {f.entity_id: f for f in ex.price_flows(self.art, curve.market_id)} if curve else {}
        final = an.final_positions(self.art)
        members: dict[str, list[Any]] = {}
        for p in self.art.profiles:
            members.setdefault(p.entity_id, []).append(p)
        info = {e.entity_id: e for e in self.art.stakeholders.stakeholders} if self.art.stakeholders else {}
        out = []
        for entity, profs in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            e = info.get(entity)
            flow = flows.get(entity)
            out.append(
                {
                    "entity_id": entity,
                    "name": sh.name(entity),
                    "type": e.type if e else profs[0].entity_type,
                    "stance_in_seed": e.stance if e else None,
                    "salience": e.salience if e else None,
                    "agents": len(profs),
                    "mean_start": round(sum(p.initial_position for p in profs) / len(profs), 3),
                    "mean_end": round(
                        sum(final.get(p.agent_id, p.final_position) for p in profs) / len(profs), 3
                    ),
                    "price_move": round(flow.net, 3) if flow else 0.0,
                    "biggest_trade": flow.biggest.trade.trade_id if flow and flow.biggest else None,
                }
            )
        return out[:40]

    def _get_coalitions(self, **_: Any) -> Any:
        return [
            {
                "name": g.name,
                "stance": g.stance,
                "agents": len(g.members),
                "mean_position": round(g.mean_position, 3),
                "stakeholders": g.stakeholder_names[:8],
                "shared_claims": g.shared_claims,
                "voices": [self.names.get(m, m) for m in g.voices],
            }
            for g in self.computed.coalitions[:12]
        ]

    def _get_agent(self, agent_id: str = "", **_: Any) -> Any:
        agent = an.resolve_agent(str(agent_id), self.names)
        prof = next((p for p in self.art.profiles if p.agent_id == agent), None)
        traj = next((t for t in self.art.trajectories if t.agent_id == agent), None)
        if prof is None and traj is None:
            return {"error": f"no agent {agent_id!r}"}
        posts = [p for p in self.art.posts if an.resolve_agent(p.author, self.names) == agent]
        return {
            "agent_id": agent,
            "name": self.names.get(agent, agent),
            "stakeholder": prof.entity_id if prof else None,
            "persona": prof.persona[:400] if prof else None,
            "trajectory": [{"round": p.round, "position": p.position} for p in (traj.points if traj else [])],
            "posts": [
                {"post_id": p.post_id, "round": p.round, "text": p.text[:200], "engagement": an.engagement(p)}
                for p in posts[:10]
            ],
        }

    def _get_trades(self, market_id: str = "", limit: int = 8, **_: Any) -> Any:
        moves = an.trade_moves(self.art).get(str(market_id), [])
        limit = max(1, min(20, int(limit) if isinstance(limit, int) else 8))
        top = sorted(moves, key=lambda m: (-abs(m.delta), m.trade.round, m.trade.trade_id))[:limit]
        return [
            {
                "trade_id": m.trade.trade_id,
                "round": m.trade.round,
                "agent": self.names.get(an.resolve_agent(m.trade.agent, self.names), m.trade.agent),
                "side": m.trade.side,
                "outcome": m.trade.outcome,
                "shares": round(m.trade.shares, 2),
                "before": round(m.before, 3),
                "after": round(m.after, 3),
            }
            for m in top
        ]


# -- the loop --------------------------------------------------------------------------------------


async def _complete(
    client: httpx.AsyncClient, cfg: ReporterLLM, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    # Only write_report on offer (the last turn): name it, so the model must write now.
    choice: Any = {"type": "function", "function": {"name": "write_report"}} if len(tools) == 1 else "auto"
    body = {
        "model": cfg.model,
        "messages": messages,
        "tools": tools,
        "tool_choice": choice,
        "temperature": 0.2,
    }
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(3),
            wait=wait_exponential(multiplier=0.5, max=2.0),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        ):
            with attempt:
                resp = await _post(client, body)
    except _Transient as exc:
        raise _Invalid(str(exc)) from exc
    if resp.status_code != 200:
        raise _Invalid(f"endpoint answered {resp.status_code}")
    try:
        message = resp.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _Invalid(f"malformed completion: {exc}") from exc
    if not isinstance(message, dict):
        raise _Invalid("malformed completion: message is not an object")
    return message


class _Transient(Exception):
    """An answer worth asking again for: the endpoint unreachable, or busy (429/5xx)."""


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    try:
        resp = await client.post("/chat/completions", json=body)
    except httpx.TransportError as exc:
        raise _Transient(f"endpoint unreachable: {exc}") from exc
    if resp.status_code in (429, 500, 502, 503, 504):
        raise _Transient(f"endpoint answered {resp.status_code}")
    return resp


def _briefing(art: RunArtifacts, computed: Report) -> str:
    markets = ", ".join(f"{c.market_id} (“{c.question}”)" for c in art.curves) or "none"
    return (
        f"Question: {art.goal}\nForecast horizon: {art.forecast_days} days over {art.rounds} rounds "
        f"(round r = day r·{art.forecast_days}/{art.rounds}).\nMarkets: {markets}.\n"
        f"Computed verdict: {computed.verdict}\nSections to write (write_report keys): "
        + ", ".join(_KEYS.values())
    )


async def write_llm_report(
    art: RunArtifacts,
    computed: Report,
    cfg: ReporterLLM,
    client: httpx.AsyncClient | None = None,
    heartbeat: Callable[[], Awaitable[None]] | None = None,
) -> Report | None:
    """The report written by the model, checked; None when it could not be had (keep `computed`).

    `heartbeat` is awaited before every completion (the reporter passes the delivery's
    `in_progress`, so a long dialogue does not outlive the bus's ack deadline).
    """
    headers = {"authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else None
    own = client is None
    client = client or httpx.AsyncClient(base_url=cfg.url.rstrip("/"), timeout=cfg.timeout_s, headers=headers)
    try:
        return await _loop(art, computed, cfg, client, heartbeat)
    except _Invalid as exc:
        log.warning("LLM report abandoned, using the computed report: %s", exc)
        return None
    except (httpx.HTTPError, ValueError, TypeError) as exc:
        log.warning("LLM report failed, using the computed report: %s", exc)
        return None
    finally:
        if own:
            await client.aclose()


async def _loop(
    art: RunArtifacts,
    computed: Report,
    cfg: ReporterLLM,
    client: httpx.AsyncClient,
    heartbeat: Callable[[], Awaitable[None]] | None,
) -> Report | None:
    tools = ArtifactTools(art, computed)
    known = known_citations(art)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": _briefing(art, computed)},
    ]
    repairs = 0
    for turn in range(cfg.max_turns):
        offered = [WRITE_TOOL] if turn == cfg.max_turns - 1 else [*READ_TOOLS, WRITE_TOOL]
        if heartbeat is not None:
            await heartbeat()
        message = await _complete(client, cfg, messages, offered)
        calls = message.get("tool_calls") or []
        messages.append(
            {
                "role": "assistant",
                "content": message.get("content"),
                **({"tool_calls": calls} if calls else {}),
            }
        )
        if not calls:
            messages.append({"role": "user", "content": "Use the tools, then call write_report."})
            continue
        for call in calls:
            fn = call.get("function") or {}
            name, raw = str(fn.get("name", "")), fn.get("arguments") or "{}"
            try:
                args = json.loads(raw) if isinstance(raw, str) else raw
                if not isinstance(args, dict):
                    raise ValueError("arguments are not an object")
            except ValueError as exc:
                result: Any = {"error": f"arguments are not valid JSON: {exc}"}
            else:
                if name == "write_report":
                    sections = {k: str(v) for k, v in args.items() if isinstance(v, str)}
                    problems = check_sections(sections, known)
                    if not problems:
                        return _as_report(computed, sections, cfg.model)
                    repairs += 1
                    if repairs > MAX_REPAIRS:
                        raise _Invalid("report still invalid after repairs: " + "; ".join(problems))
                    result = {"error": "the report was not accepted", "problems": problems}
                else:
                    try:
                        result = tools.call(name, args)
                    except _Invalid as exc:
                        result = {"error": str(exc)}
                    except TypeError as exc:
                        result = {"error": f"bad arguments: {exc}"}
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": str(call.get("id", "")),
                    "name": name,
                    "content": json.dumps(result, ensure_ascii=False)[:RESULT_CHARS],
                }
            )
    raise _Invalid(f"no accepted report after {cfg.max_turns} turns")


def _as_report(computed: Report, sections: dict[str, str], model: str) -> Report:
    out = {title: sections[key].strip() for title, key in _KEYS.items()}
    if f"]({MARKET_CHART})" not in out["Market Analysis"]:
        out["Market Analysis"] += f"\n\n![Market prices over the forecast horizon]({MARKET_CHART})"
    if f"]({BELIEF_CHART})" not in out["Belief Dynamics"]:
        out["Belief Dynamics"] += f"\n\n![Belief distribution over the forecast horizon]({BELIEF_CHART})"
    out["Conclusion"] += (
        f"\n\n*Written by {model} from the run's artifacts with tools; every citation was "
        "checked against them.*"
    )
    return dataclasses.replace(computed, sections=out, written_by=model)
