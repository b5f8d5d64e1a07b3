"""The job spec a user submits, the tier routing table and the resolved run parameters."""

from __future__ import annotations

import enum
import re
from typing import Annotated, Literal

import msgspec

from contracts.text import Line, Text

# Maxima of every field of a spec; docs/api.md ("Limits") lists them. They hold on every tier;
# the routing table's caps (TierConfig.max_*) may only be tighter.
SEED_MAX_CHARS = 50_000
GOAL_MAX_CHARS = 1_000
MARKET_QUESTION_MAX_CHARS = 200
RATIONALE_MAX_CHARS = 2_000
MAX_MARKETS = 10
SPEC_MAX_CHARS = 60_000  # all text of a spec together (seed, goal, questions, rationales)
MAX_AGENTS = 100_000
MAX_ROUNDS = 10_000
MAX_FORECAST_DAYS = 365
RANDOM_SEED_MAX = 2**63 - 1  # a signed 64-bit integer: what every store and engine RNG accepts


class SpecError(ValueError):
    """A job spec that cannot run; the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Tier(enum.StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Policy(enum.StrEnum):
    LLM = "llm"
    HEURISTIC = "heuristic"


class JobStatus(enum.StrEnum):
    CREATED = "created"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    REPORTING = "reporting"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A binary prediction market. Prices are clamped to [0.05, 0.95] when resolved."""

    question: Annotated[Line, msgspec.Meta(max_length=MARKET_QUESTION_MAX_CHARS)]
    initial_price_yes: float = 0.5
    rationale: Annotated[Text, msgspec.Meta(max_length=RATIONALE_MAX_CHARS)] = ""


class JobSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a user asks for. `agents`/`rounds` override the tier's defaults (bounded)."""

    seed_text: Annotated[Text, msgspec.Meta(max_length=SEED_MAX_CHARS)]
    goal: Annotated[Line, msgspec.Meta(max_length=GOAL_MAX_CHARS)]
    tier: Tier = Tier.SMALL
    forecast_days: Annotated[int, msgspec.Meta(ge=1, le=MAX_FORECAST_DAYS)] = 30
    enrich_web: bool = False
    markets: Annotated[list[MarketSpec], msgspec.Meta(max_length=MAX_MARKETS)] | None = None
    policy: Policy | None = None
    random_seed: Annotated[int, msgspec.Meta(ge=0, le=RANDOM_SEED_MAX)] | None = None
    agents: Annotated[int, msgspec.Meta(ge=1, le=MAX_AGENTS)] | None = None
    rounds: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROUNDS)] | None = None


class DraftSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A job spec being written (`/api/jobs/draft`): every field optional, each with JobSpec's own type
    and bounds, so a draft refuses control characters and oversize text as a create does. Whether the
    whole is runnable (required fields, tier caps, policy) is checked on launch, by the create path."""

    seed_text: Annotated[Text, msgspec.Meta(max_length=SEED_MAX_CHARS)] | None = None
    goal: Annotated[Line, msgspec.Meta(max_length=GOAL_MAX_CHARS)] | None = None
    tier: Tier | None = None
    forecast_days: Annotated[int, msgspec.Meta(ge=1, le=MAX_FORECAST_DAYS)] | None = None
    enrich_web: bool | None = None
    markets: Annotated[list[MarketSpec], msgspec.Meta(max_length=MAX_MARKETS)] | None = None
    policy: Policy | None = None
    random_seed: Annotated[int, msgspec.Meta(ge=0, le=RANDOM_SEED_MAX)] | None = None
    agents: Annotated[int, msgspec.Meta(ge=1, le=MAX_AGENTS)] | None = None
    rounds: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROUNDS)] | None = None


class TierConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the operator-editable routing table."""

    model: str
    gpu_types: list[str]
    agents: int
    rounds: int
    timeout_s: int
    max_markets: int
    default_policy: Policy = Policy.LLM
    # Caps on what a spec may ask of this tier (422 `tier_cap_exceeded` above them).
    max_agents: int = 500
    max_rounds: int = 200
    max_forecast_days: int = MAX_FORECAST_DAYS


_A6000, _L40S, _H100, _H200 = "NVIDIA RTX A6000", "NVIDIA L40S", "NVIDIA H100 80GB HBM3", "NVIDIA H200"

# The hosted routing table, a row a tier: GPU types (cheapest first); the default agents, rounds,
# timeout and markets of a run; the caps a spec may ask up to (agents, rounds, forecast days).
_TIER_COLUMNS = (
    "gpu_types agents rounds timeout_s max_markets max_agents max_rounds max_forecast_days".split()
)
DEFAULT_TIERS: dict[Tier, TierConfig] = msgspec.convert(
    {
        tier: {"model": "Qwen/Qwen3-14B", **dict(zip(_TIER_COLUMNS, row, strict=True))}
        for tier, *row in (
            (Tier.SMALL, [_A6000, _L40S, _H100], 10, 15, 45 * 60, 3, 200, 100, 90),
            (Tier.MEDIUM, [_L40S, _H100], 20, 100, 5 * 3600, 4, 500, 300, 180),
            (Tier.LARGE, [_H100, _H200], 35, 200, 12 * 3600, 5, 1_000, 1_000, MAX_FORECAST_DAYS),
        )
    },
    dict[Tier, TierConfig],
)


def local_tiers() -> dict[Tier, TierConfig]:
    """The routing table of `simswarm up`: one user on their own machine, so caps at the absolute maxima."""
    return {
        tier: msgspec.structs.replace(
            cfg,
            max_agents=MAX_AGENTS,
            max_rounds=MAX_ROUNDS,
            max_forecast_days=MAX_FORECAST_DAYS,
            max_markets=max(cfg.max_markets, MAX_MARKETS),
        )
        for tier, cfg in DEFAULT_TIERS.items()
    }


class ResolvedRun(msgspec.Struct, frozen=True, kw_only=True):
    """The spec after the routing table and defaults are applied: what a pod actually runs."""

    tier: Tier
    model: str
    gpu_types: list[str]
    agents: int
    rounds: int
    timeout_s: int
    policy: Policy
    random_seed: int
    markets: list[MarketSpec]
    max_markets: int


def _clean_question(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class TierCapError(SpecError):
    """A spec asking more of its tier than the routing table allows; `cap` names the table's field."""

    def __init__(self, field: str, problem: str, cap: str) -> None:
        super().__init__(field, problem)
        self.cap = cap


def spec_text_chars(spec: JobSpec) -> int:
    """All text of a spec together: what SPEC_MAX_CHARS bounds."""
    markets = spec.markets or []
    return len(spec.seed_text) + len(spec.goal) + sum(len(m.question) + len(m.rationale) for m in markets)


def check_tier_caps(spec: JobSpec, tiers: dict[Tier, TierConfig]) -> None:
    """Raise TierCapError when the spec asks more agents, rounds, markets or days than its tier allows."""
    cfg = tiers[spec.tier]
    asked = [
        ("agents", spec.agents, cfg.max_agents, "max_agents"),
        ("rounds", spec.rounds, cfg.max_rounds, "max_rounds"),
        ("markets", len(spec.markets) if spec.markets is not None else None, cfg.max_markets, "max_markets"),
        ("forecast_days", spec.forecast_days, cfg.max_forecast_days, "max_forecast_days"),
    ]
    for field, value, cap, name in asked:
        if value is not None and value > cap:
            raise TierCapError(
                field,
                f"{value:,} is over the {spec.tier.value} tier's cap of {cap:,} ({name}); "
                "ask for less or choose a larger tier",
                name,
            )


def validate_spec(spec: JobSpec, tiers: dict[Tier, TierConfig] | None = None) -> JobSpec:
    """Check what the type system cannot; raise SpecError naming the field. Returns the spec."""
    tiers = tiers or DEFAULT_TIERS
    if not spec.seed_text.strip():
        raise SpecError("seed_text", "must not be empty")
    if len(spec.seed_text) > SEED_MAX_CHARS:
        raise SpecError(
            "seed_text", f"is {len(spec.seed_text):,} characters; the limit is {SEED_MAX_CHARS:,}"
        )
    if (total := spec_text_chars(spec)) > SPEC_MAX_CHARS:
        raise SpecError(
            "spec",
            f"its texts (seed, goal, market questions and rationales) total {total:,} characters; "
            f"the limit is {SPEC_MAX_CHARS:,}",
        )
    goal = _clean_question(spec.goal)
    if len(goal) < 5:
        raise SpecError("goal", "must be a prediction question of at least 5 characters")
    if len(spec.goal) > GOAL_MAX_CHARS:
        raise SpecError("goal", f"is {len(spec.goal):,} characters; the limit is {GOAL_MAX_CHARS:,}")
    if spec.tier not in tiers:
        raise SpecError(
            "tier", f"unknown tier {spec.tier!r}; expected one of {', '.join(t.value for t in tiers)}"
        )
    if spec.markets is not None:
        limit = tiers[spec.tier].max_markets
        if len(spec.markets) > limit:
            raise TierCapError(
                "markets",
                f"{len(spec.markets)} markets given; the {spec.tier.value} tier's cap is {limit} "
                "(max_markets)",
                "max_markets",
            )
        for i, m in enumerate(spec.markets):
            q = _clean_question(m.question)
            if not q:
                raise SpecError(f"markets[{i}].question", "must not be empty")
            if len(q) > MARKET_QUESTION_MAX_CHARS:
                raise SpecError(
                    f"markets[{i}].question",
                    f"is {len(q)} characters; the limit is {MARKET_QUESTION_MAX_CHARS}",
                )
            if not (0.0 < m.initial_price_yes < 1.0):
                raise SpecError(f"markets[{i}].initial_price_yes", "must be strictly between 0 and 1")
    return spec


def dedupe_markets(markets: list[MarketSpec], limit: int) -> list[MarketSpec]:
    """Clamp prices to [0.05, 0.95], drop case-insensitive duplicate questions, keep at most `limit`."""
    seen: set[str] = set()
    out: list[MarketSpec] = []
    for m in markets:
        q = _clean_question(m.question)[:MARKET_QUESTION_MAX_CHARS]
        key = q.casefold()
        if not q or key in seen:
            continue
        seen.add(key)
        price = min(0.95, max(0.05, float(m.initial_price_yes)))
        out.append(MarketSpec(question=q, initial_price_yes=price, rationale=m.rationale))
        if len(out) == limit:
            break
    return out


def resolve_run(spec: JobSpec, random_seed: int, tiers: dict[Tier, TierConfig] | None = None) -> ResolvedRun:
    """Apply the routing table. Markets default to the goal itself (the engine may derive more)."""
    tiers = tiers or DEFAULT_TIERS
    validate_spec(spec, tiers)
    cfg = tiers[spec.tier]
    markets = dedupe_markets(
        spec.markets or [MarketSpec(question=_clean_question(spec.goal)[:MARKET_QUESTION_MAX_CHARS])],
        cfg.max_markets,
    )
    return ResolvedRun(
        tier=spec.tier,
        model=cfg.model,
        gpu_types=list(cfg.gpu_types),
        agents=spec.agents or cfg.agents,
        rounds=spec.rounds or cfg.rounds,
        timeout_s=cfg.timeout_s,
        policy=spec.policy or cfg.default_policy,
        random_seed=spec.random_seed if spec.random_seed is not None else random_seed,
        markets=markets,
        max_markets=cfg.max_markets,
    )


def load_tiers(raw: bytes) -> dict[Tier, TierConfig]:
    """Parse an operator's routing table (JSON: {"small": {...}, ...}); unknown tiers are an error."""
    return msgspec.json.decode(raw, type=dict[Tier, TierConfig])


PolicyName = Literal["llm", "heuristic"]
