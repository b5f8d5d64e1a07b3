"""result.json: a completed job's results as data (verdict, key insight, findings with citations,
stakeholders' final positions, the run's scale), written by the reporter next to report.md so a
client renders a results page from `GET /api/jobs/{id}` without parsing the markdown."""

from __future__ import annotations

from typing import Literal

import msgspec

RESULT_FILE = "result.json"
RESULT_SCHEMA_VERSION = 1


class ResultCitation(msgspec.Struct, frozen=True, kw_only=True):
    """Evidence in the artifacts: a post (posts.json), a trade (trades.json) or a market curve's round."""

    kind: Literal["post", "trade", "curve"]
    ref: str  # post_id, trade_id or market_id
    round: int | None = None  # curves only


class ResultFinding(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    text: str
    citations: list[ResultCitation] = []


class StakeholderPosition(msgspec.Struct, frozen=True, kw_only=True):
    """Where the agents speaking for one stakeholder of the seed ended, on [-1 (NO), 1 (YES)]."""

    entity_id: str
    name: str
    type: str
    agents: int
    initial_position: float
    final_position: float
    stance: str  # YES | NO | undecided, of the final position


class MarketStress(msgspec.Struct, frozen=True, kw_only=True):
    """The largest one-round move of a market's YES price: how hard the run shook its markets."""

    level: Literal["calm", "moderate", "high"]
    max_round_move: float  # in price points, 0..1
    market_id: str | None = None
    round: int | None = None


class RunScale(msgspec.Struct, frozen=True, kw_only=True):
    agents: int
    rounds: int
    horizon_days: int
    coalitions: int
    markets: int
    posts: int
    trades: int
    market_stress: MarketStress


class JobResult(msgspec.Struct, frozen=True, kw_only=True):
    schema_version: int = RESULT_SCHEMA_VERSION
    verdict: str
    key_insight: str  # one line
    findings: list[ResultFinding]
    stakeholders: list[StakeholderPosition]
    scale: RunScale
    written_by: str = "computed"  # or the model id of an LLM-written report
