"""Artifact schemas (docs/engine.md §8): one JSON file each, written by the engine, read by reporter, graph."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

REPORT_FILE = "report.md"
GRAPH_FILE = "graph.json"


class ArtifactRef(msgspec.Struct, frozen=True, kw_only=True):
    """Where an artifact lies in the object store and what it must hash to."""

    name: str
    key: str
    size: int
    sha256: str
    content_type: str = "application/json"


class ChatLogEntry(msgspec.Struct, kw_only=True):
    round: int
    agent_id: str
    agent_name: str
    action_type: str
    platform: Literal["social", "market"]
    args: dict[str, Any]
    result: dict[str, Any] | str | None
    success: bool


class Post(msgspec.Struct, kw_only=True):
    post_id: str
    parent_id: str | None
    author: str
    text: str
    round: int
    likes: int = 0
    dislikes: int = 0
    reposts: int = 0
    replies: int = 0
    stance: float = 0.0
    claim_id: str = ""  # the seed claim (claims.json) the post argues; empty when none


class TopPost(Post, kw_only=True):
    engagement: int = 0


class Trade(msgspec.Struct, kw_only=True):
    trade_id: str
    round: int
    agent: str
    market_id: str
    side: Literal["buy", "sell"]
    outcome: Literal["yes", "no"]
    shares: float
    cost: float
    price_after: float
    success: bool
    error: str | None = None


class CurvePoint(msgspec.Struct, kw_only=True):
    round: int
    price_yes: float
    volume: float


class MarketCurve(msgspec.Struct, kw_only=True):
    market_id: str
    question: str
    points: list[CurvePoint]


class TrajectoryPoint(msgspec.Struct, kw_only=True):
    round: int
    position: float
    confidence: float
    posts: int
    actions: int


class AgentTrajectory(msgspec.Struct, kw_only=True):
    agent_id: str
    agent_name: str
    points: list[TrajectoryPoint]


class EngagementRound(msgspec.Struct, kw_only=True):
    round: int
    posts: int
    replies: int
    votes: int
    reposts: int
    follows: int
    trades: int
    active_agents: int


class FollowEdge(msgspec.Struct, kw_only=True):
    source: str
    target: str
    round: int


class SocialGraph(msgspec.Struct, kw_only=True):
    edges: list[FollowEdge]
    mutual: list[list[str]]


class Profile(msgspec.Struct, kw_only=True):
    agent_id: str
    name: str
    entity_id: str
    entity_type: str
    persona: str
    traits: dict[str, float]
    initial_position: float
    final_position: float
    totals: dict[str, int]
    cash: float
    holdings: dict[str, dict[str, float]]
    platforms: list[str]


class Relation(msgspec.Struct, kw_only=True):
    source: str
    target: str
    type: str
    fact: str
    weight: float = 1.0


class FileDigest(msgspec.Struct, frozen=True, kw_only=True):
    """A file by its name, size in bytes and SHA-256 (hex): what its reader checks the bytes against."""

    name: str
    size: int
    sha256: str


class ManifestFile(FileDigest, frozen=True, kw_only=True):
    """A file of the run, as manifest.json lists it."""


class Manifest(msgspec.Struct, kw_only=True):
    engine_version: str
    spec: dict[str, Any]
    policy: str
    model: str | None
    random_seed: int
    counts: dict[str, int]
    files: list[ManifestFile]
    created_at: str
    llm_counters: dict[str, float] | None = None


# -- what the swarm read (claims.json, stakeholders.json; docs/engine.md, "Reading the seed") ----------

READING_SCHEMA_VERSION = 1


class Threshold(msgspec.Struct, kw_only=True):
    """A number the proposition must pass: op '>' (above) or '<' (below)."""

    op: Literal[">", "<"]
    value: float
    unit: str = ""  # "%", "$" or "" (a plain count or amount)
    phrase: str = ""


class Proposition(msgspec.Struct, kw_only=True):
    """The question as a proposition A, with its polarity (-1 when the question asks for not-A)."""

    question: str
    statement: str  # A, stated positively ("the strike ends with a deal within 30 days")
    subject: str
    event: str
    polarity: int = 1
    negation: str = ""  # the words that negated it ("fail to"), empty when positive
    window_days: int | None = None
    deadline: str = ""
    thresholds: list[Threshold] = []
    keywords: list[str] = []

    @property
    def negated(self) -> bool:
        return self.polarity < 0


class Claim(msgspec.Struct, kw_only=True):
    """A statement of the seed that bears on the proposition."""

    claim_id: str
    text: str
    source_id: str = ""  # the stakeholder who asserts it; empty: the seed's own narration
    source: str = "the seed"
    mentions: list[str] = []  # stakeholder ids the claim is about
    direction: float = 0.0  # in [-1, 1] toward the proposition A (before the question's polarity)
    stance: float = 0.0  # in [-1, 1] toward YES on the question as asked (direction x polarity)
    strength: float = 0.0  # |stance| weighted by relevance, in [0, 1]
    label: Literal["for", "against", "neutral"] = "neutral"  # toward YES on the question as asked
    order: int = 0  # position in the seed
    date: str = ""  # as written in the seed, when it gives one
    date_key: int = 0  # yyyymmdd (missing parts 0) for ordering; 0 when undated
    arrival_round: int = 0  # the round the claim enters the world (later-dated claims arrive later)
    reasons: list[str] = []  # why it reads that way ("9 of 31 = 29% < 50%")


class Entity(msgspec.Struct, kw_only=True):
    """A stakeholder: a person, organisation, faction or viewpoint, with its view of the goal."""

    entity_id: str
    name: str
    type: str
    summary: str
    stance: float = 0.0  # in [-1, 1] toward YES on the goal
    weight: float = 1.0  # prominence in the seed: how many clones it gets in large populations
    aliases: list[str] = []  # other names of the same entity in the seed (an acronym, a surname)
    salience: float = 0.0  # in [0, 1]: how much the seed is about it (1 = the most)


class ClaimsFile(msgspec.Struct, kw_only=True):
    """claims.json: the question as a proposition and the seed's claims, versioned."""

    schema_version: int = READING_SCHEMA_VERSION
    source: str = "rules"  # "rules" or "llm": who read the seed
    proposition: Proposition
    claims: list[Claim]


class StakeholdersFile(msgspec.Struct, kw_only=True):
    """stakeholders.json: the seed's stakeholders (typed, aliases merged, salience, stance), versioned."""

    schema_version: int = READING_SCHEMA_VERSION
    source: str = "rules"
    stakeholders: list[Entity]


# Every engine artifact file and the contract type it decodes into, in the order the engine writes them.
ARTIFACT_TYPES: dict[str, Any] = {
    "chat_log.json": list[ChatLogEntry],
    "posts.json": list[Post],
    "top_posts.json": list[TopPost],
    "trades.json": list[Trade],
    "market_curves.json": list[MarketCurve],
    "agent_trajectories.json": list[AgentTrajectory],
    "engagement_summary.json": list[EngagementRound],
    "social_graph.json": SocialGraph,
    "profiles.json": list[Profile],
    "relations.json": list[Relation],
    "claims.json": ClaimsFile,
    "stakeholders.json": StakeholdersFile,
    "manifest.json": Manifest,
}
ENGINE_ARTIFACTS: tuple[str, ...] = tuple(ARTIFACT_TYPES)
