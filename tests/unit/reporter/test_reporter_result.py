"""result.json: the report as data, consistent with the markdown and computed from the artifacts."""

from __future__ import annotations

import msgspec

from contracts.results import JobResult
from services.reporter.artifacts import decode_artifacts
from services.reporter.compose import compose_report
from services.reporter.result import HIGH_MOVE, MODERATE_MOVE, build_result
from tests.unit.reporter.reporter_samples import AGENTS, FORECAST_DAYS, ROUNDS, STAKEHOLDERS, sample_files


def _result() -> tuple[JobResult, str]:
    art = decode_artifacts(sample_files())
    report = compose_report(art)
    return build_result(art, report), report.markdown()


def test_the_result_carries_the_verdict_findings_and_citations_of_the_report() -> None:
    result, markdown = _result()
    assert result.verdict and result.verdict in markdown
    assert result.findings and all(f.title in markdown for f in result.findings)
    cited = [c for f in result.findings for c in f.citations]
    assert cited and all(f"[{c.ref}" in markdown for c in cited)
    assert "\n" not in result.key_insight and 0 < len(result.key_insight) <= 240


def test_each_stakeholder_ends_at_its_agents_mean_final_position() -> None:
    result, _ = _result()
    by_entity: dict[str, list[tuple[float, float]]] = {}
    for _name, entity, _type, start, end in AGENTS.values():
        by_entity.setdefault(entity, []).append((start, end))
    assert {s.entity_id for s in result.stakeholders} == set(by_entity)
    for s in result.stakeholders:
        pairs = by_entity[s.entity_id]
        assert s.agents == len(pairs)
        assert abs(s.final_position - sum(e for _, e in pairs) / len(pairs)) < 1e-3
        assert s.name == STAKEHOLDERS.get(s.entity_id, s.entity_id)
        assert s.stance in {"YES", "NO", "undecided"}


def test_the_scale_is_the_runs_own() -> None:
    result, _ = _result()
    scale = result.scale
    assert scale.agents == len(AGENTS) and scale.rounds == ROUNDS and scale.horizon_days == FORECAST_DAYS
    assert scale.markets >= 1 and scale.posts > 0 and scale.coalitions >= 0
    stress = scale.market_stress
    expected = (
        "high"
        if stress.max_round_move >= HIGH_MOVE
        else "moderate"
        if stress.max_round_move >= MODERATE_MOVE
        else "calm"
    )
    assert stress.level == expected and stress.market_id


def test_the_result_round_trips_through_its_contract() -> None:
    result, _ = _result()
    assert msgspec.json.decode(msgspec.json.encode(result), type=JobResult) == result
