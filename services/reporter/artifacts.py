"""Decoding the engine's artifact files (contracts.artifacts) into one typed bundle. Pure: bytes in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts import artifacts as A
from services.kit.artifacts import ArtifactInvalid, decode_files

# RunArtifacts' fields and the files they are decoded from: those every run has...
REQUIRED_FILES: dict[str, str] = {
    "manifest": "manifest.json",
    "curves": "market_curves.json",
    "trajectories": "agent_trajectories.json",
    "posts": "posts.json",
    "trades": "trades.json",
    "profiles": "profiles.json",
    "social": "social_graph.json",
}
# ...and those used when the run has them (claims.json and stakeholders.json, what the swarm read:
# older runs do not).
OPTIONAL_FILES: dict[str, str] = {
    "top_posts": "top_posts.json",
    "engagement": "engagement_summary.json",
    "claims": "claims.json",
    "stakeholders": "stakeholders.json",
}
REPORT_INPUTS: tuple[str, ...] = (*REQUIRED_FILES.values(), *OPTIONAL_FILES.values())


class ArtifactError(ArtifactInvalid):
    """An artifact that is missing, corrupt or not of the contract's shape; the message says which."""


@dataclass(frozen=True)
class RunArtifacts:
    """Everything the report is computed from, decoded and typed."""

    manifest: A.Manifest
    curves: list[A.MarketCurve]
    trajectories: list[A.AgentTrajectory]
    posts: list[A.Post]
    trades: list[A.Trade]
    profiles: list[A.Profile]
    social: A.SocialGraph
    top_posts: list[A.TopPost] = field(default_factory=list)
    engagement: list[A.EngagementRound] = field(default_factory=list)
    claims: A.ClaimsFile | None = None
    stakeholders: A.StakeholdersFile | None = None

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


def decode_artifacts(files: Mapping[str, bytes]) -> RunArtifacts:
    """Decode the report's inputs (keyed by file name); raise ArtifactError naming the bad file."""
    return RunArtifacts(**decode_files(files, REQUIRED_FILES, OPTIONAL_FILES, ArtifactError))
