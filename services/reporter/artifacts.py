"""Decoding the engine's artifact files (contracts.artifacts) into one typed bundle. Pure: bytes in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from contracts.artifacts import (
    AgentTrajectory,
    ClaimsFile,
    EngagementRound,
    Manifest,
    MarketCurve,
    Post,
    Profile,
    SocialGraph,
    StakeholdersFile,
    TopPost,
    Trade,
)
from services.kit.artifacts import ArtifactInvalid, decode_artifact

REQUIRED_FILES: tuple[str, ...] = (
    "manifest.json",
    "market_curves.json",
    "agent_trajectories.json",
    "posts.json",
    "trades.json",
    "profiles.json",
    "social_graph.json",
)
# claims.json and stakeholders.json (what the swarm read) are used when the run has them; older runs do not.
OPTIONAL_FILES: tuple[str, ...] = (
    "top_posts.json",
    "engagement_summary.json",
    "claims.json",
    "stakeholders.json",
)
REPORT_INPUTS: tuple[str, ...] = REQUIRED_FILES + OPTIONAL_FILES

T = TypeVar("T")


class ArtifactError(ArtifactInvalid):
    """An artifact that is missing, corrupt or not of the contract's shape; the message says which."""


@dataclass(frozen=True)
class RunArtifacts:
    """Everything the report is computed from, decoded and typed."""

    manifest: Manifest
    curves: list[MarketCurve]
    trajectories: list[AgentTrajectory]
    posts: list[Post]
    trades: list[Trade]
    profiles: list[Profile]
    social: SocialGraph
    top_posts: list[TopPost] = field(default_factory=list)
    engagement: list[EngagementRound] = field(default_factory=list)
    claims: ClaimsFile | None = None
    stakeholders: StakeholdersFile | None = None

    @property
    def spec(self) -> dict[str, Any]:
        return self.manifest.spec

    @property
    def goal(self) -> str:
        return str(self.spec.get("goal") or "")

    @property
    def forecast_days(self) -> int:
        try:
            days = int(self.spec.get("forecast_days") or 30)
        except (TypeError, ValueError):
            days = 30
        return max(1, days)

    @property
    def rounds(self) -> int:
        """The number of rounds run: the last round seen in trajectories or curves, else the spec."""
        seen = [p.round for t in self.trajectories for p in t.points]
        seen += [p.round for c in self.curves for p in c.points]
        if seen:
            return max(1, max(seen))
        return max(1, int(self.spec.get("rounds") or 1))


def _decode(name: str, data: bytes, typ: type[T]) -> T:
    return decode_artifact(name, data, typ, ArtifactError)


def decode_artifacts(files: Mapping[str, bytes]) -> RunArtifacts:
    """Decode the report's inputs (keyed by file name); raise ArtifactError naming the bad file."""
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        raise ArtifactError(f"missing artifact(s): {', '.join(missing)}")
    return RunArtifacts(
        manifest=_decode("manifest.json", files["manifest.json"], Manifest),
        curves=_decode("market_curves.json", files["market_curves.json"], list[MarketCurve]),
        trajectories=_decode(
            "agent_trajectories.json", files["agent_trajectories.json"], list[AgentTrajectory]
        ),
        posts=_decode("posts.json", files["posts.json"], list[Post]),
        trades=_decode("trades.json", files["trades.json"], list[Trade]),
        profiles=_decode("profiles.json", files["profiles.json"], list[Profile]),
        social=_decode("social_graph.json", files["social_graph.json"], SocialGraph),
        top_posts=(
            _decode("top_posts.json", files["top_posts.json"], list[TopPost])
            if "top_posts.json" in files
            else []
        ),
        engagement=(
            _decode("engagement_summary.json", files["engagement_summary.json"], list[EngagementRound])
            if "engagement_summary.json" in files
            else []
        ),
        claims=_decode("claims.json", files["claims.json"], ClaimsFile) if "claims.json" in files else None,
        stakeholders=(
            _decode("stakeholders.json", files["stakeholders.json"], StakeholdersFile)
            if "stakeholders.json" in files
            else None
        ),
    )
