"""Artifact schemas (docs/engine.md §8): one JSON file each, written by the engine, read by reporter, graph."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

ENGINE_ARTIFACTS: tuple[str, ...] = (
    "chat_log.json",
    "posts.json",
    "top_posts.json",
    "trades.json",
    "market_curves.json",
    "agent_trajectories.json",
    "engagement_summary.json",
    "social_graph.json",
    "profiles.json",
    "relations.json",
    "manifest.json",
)
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


class ManifestFile(msgspec.Struct, kw_only=True):
    name: str
    size: int
    sha256: str


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
