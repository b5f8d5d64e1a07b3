"""The report as data (contracts.results.JobResult): what `GET /api/jobs/{id}` carries once complete.

Computed from the same decoded artifacts and composed report as report.md, so the results page and
the markdown can never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from contracts.results import (
    JobResult,
    MarketStress,
    ResultCitation,
    ResultFinding,
    RunScale,
    StakeholderPosition,
)
from services.reporter import analysis as an
from services.reporter.artifacts import RunArtifacts
from services.reporter.compose import Report

KEY_INSIGHT_CHARS = 240
# One-round YES-price moves (price points) at which a market counts as moderately / highly stressed.
MODERATE_MOVE = 0.05
HIGH_MOVE = 0.15


def key_insight(report: Report) -> str:
    """One line: the first finding's title and text, else the verdict's first sentence."""
    if report.findings:
        first = report.findings[0]
        line = f"{first.title}: {first.text}"
    else:
        line = report.verdict.split(". ")[0]
    line = " ".join(line.split())
    return line if len(line) <= KEY_INSIGHT_CHARS else line[: KEY_INSIGHT_CHARS - 1] + "…"


def stakeholder_positions(art: RunArtifacts) -> list[StakeholderPosition]:
    """Each stakeholder's agents' mean initial and final belief, most agents first."""
    known = {e.entity_id: e for e in (art.stakeholders.stakeholders if art.stakeholders else [])}
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    types: dict[str, str] = {}
    for p in art.profiles:
        groups[p.entity_id].append((p.initial_position, p.final_position))
        types.setdefault(p.entity_id, p.entity_type)
    out = []
    for entity_id, pairs in groups.items():
        entity = known.get(entity_id)
        final = sum(f for _, f in pairs) / len(pairs)
        out.append(
            StakeholderPosition(
                entity_id=entity_id,
                name=entity.name if entity else entity_id,
                type=entity.type if entity else types[entity_id],
                agents=len(pairs),
                initial_position=round(sum(i for i, _ in pairs) / len(pairs), 4),
                final_position=round(final, 4),
                stance=an.stance_label(final),
            )
        )
    return sorted(out, key=lambda s: (-s.agents, s.name))


def market_stress(art: RunArtifacts) -> MarketStress:
    moves = [m for c in art.curves if (m := an.biggest_round_move(c, art)) is not None]
    if not moves:
        return MarketStress(level="calm", max_round_move=0.0)
    top = max(moves, key=lambda m: abs(m.delta))
    size = round(abs(top.delta), 4)
    level: Literal["calm", "moderate", "high"] = (
        "high" if size >= HIGH_MOVE else "moderate" if size >= MODERATE_MOVE else "calm"
    )
    return MarketStress(level=level, max_round_move=size, market_id=top.market_id, round=top.round)


def build_result(art: RunArtifacts, report: Report) -> JobResult:
    agents = {p.agent_id for p in art.profiles} | {t.agent_id for t in art.trajectories}
    return JobResult(
        verdict=report.verdict,
        key_insight=key_insight(report),
        findings=[
            ResultFinding(
                title=f.title,
                text=f.text,
                citations=[ResultCitation(kind=c.kind, ref=c.ref, round=c.round) for c in f.citations],
            )
            for f in report.findings
        ],
        stakeholders=stakeholder_positions(art),
        scale=RunScale(
            agents=len(agents),
            rounds=art.rounds,
            horizon_days=art.forecast_days,
            coalitions=len(report.coalitions),
            markets=len(art.curves),
            posts=len(art.posts),
            trades=sum(1 for t in art.trades if t.success),
            market_stress=market_stress(art),
        ),
        written_by=report.written_by,
    )
