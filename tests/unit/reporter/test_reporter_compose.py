"""The computed report: every section, the verdict, real citations, phases in weeks, coalitions."""

from __future__ import annotations

import re

import msgspec
import pytest

from contracts import artifacts as A
from services.reporter import analysis as an
from services.reporter import explain as ex
from services.reporter.artifacts import ArtifactError, decode_artifacts
from services.reporter.compose import BELIEF_CHART, MARKET_CHART, SECTION_TITLES, compose_report
from tests.unit.reporter.reporter_samples import GOAL, sample_files, trade


@pytest.fixture
def art() -> an.RunArtifacts:
    return decode_artifacts(sample_files())


def test_every_section_is_present_in_order(art: an.RunArtifacts) -> None:
    md = compose_report(art).markdown()
    positions = [md.index(f"## {title}\n") for title in SECTION_TITLES]
    assert positions == sorted(positions)
    assert md.startswith(f"# SimSwarm report: {GOAL}")
    for title in SECTION_TITLES:
        body = md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
        assert body.strip(), f"section {title} is empty"


def test_verdict_is_one_sentence_from_the_closing_price_and_spread(art: an.RunArtifacts) -> None:
    verdict = compose_report(art).verdict
    assert verdict.count(". ") == 0 and verdict.endswith(".")
    assert "expects YES" in verdict  # closed at 0.66 > 0.65
    assert "0.66" in verdict and "opened 0.50" in verdict
    assert "polarised" in verdict  # final positions spread 0.47


def test_verdict_reads_no_and_consensus_when_the_data_say_so() -> None:
    files = sample_files()
    curves = msgspec.json.decode(files["market_curves.json"], type=list[A.MarketCurve])
    curves[0].points[-1].price_yes = 0.30
    profiles = msgspec.json.decode(files["profiles.json"], type=list[A.Profile])
    for p in profiles:
        p.final_position = -0.5
    files["market_curves.json"] = msgspec.json.encode(curves)
    files["profiles.json"] = msgspec.json.encode(profiles)
    verdict = compose_report(decode_artifacts(files)).verdict
    assert "expects NO" in verdict and "broad consensus" in verdict


def test_four_findings_each_citing_real_ids(art: an.RunArtifacts) -> None:
    report = compose_report(art)
    assert len(report.findings) == 4
    post_ids = {p.post_id for p in art.posts}
    trade_ids = {t.trade_id for t in art.trades}
    rounds = {c.market_id: {p.round for p in c.points} for c in art.curves}
    for f in report.findings:
        assert f.citations, f.title
        for c in f.citations:
            if c.kind == "post":
                assert c.ref in post_ids
            elif c.kind == "trade":
                assert c.ref in trade_ids
            else:
                assert c.round in rounds[c.ref]
            assert str(c) in report.sections["Key Findings"]
    cited = {str(c) for f in report.findings for c in f.citations}
    assert {"[p2]", "[t3]", "[tariffs-pass round 5]"} <= cited


def test_every_bracketed_citation_in_the_markdown_is_a_real_id(art: an.RunArtifacts) -> None:
    md = compose_report(art).markdown()
    known = {p.post_id for p in art.posts} | {t.trade_id for t in art.trades}
    curves = {c.market_id for c in art.curves}
    for ref in re.findall(r"(?<!!)\[([^\]]+)\](?!\()", md):
        parts = ref.split(" round ")
        assert ref in known or (len(parts) == 2 and parts[0] in curves), ref


def test_market_analysis_names_the_biggest_trades_and_failed_trades_are_ignored(art: an.RunArtifacts) -> None:
    section = compose_report(art).sections["Market Analysis"]
    assert section.index("[t3]") < section.index("[t1]")  # t3 moved tariffs-pass most
    assert "[t5]" not in section  # failed
    assert f"]({MARKET_CHART})" in section


def test_phases_are_thirds_of_the_horizon_in_weeks(art: an.RunArtifacts) -> None:
    phases = an.belief_phases(art)
    assert [p.name for p in phases] == ["early", "mid", "late"]
    assert [(p.first_day, p.last_day) for p in phases] == [(1, 14), (15, 28), (29, 42)]
    assert [p.weeks for p in phases] == ["weeks 1-2", "weeks 3-4", "weeks 5-6"]
    assert [(p.rounds.start, p.rounds.stop) for p in phases] == [(1, 3), (3, 5), (5, 7)]
    assert phases[-1].price_end == pytest.approx(0.66)
    section = compose_report(art).sections["Belief Dynamics"]
    assert "Early (weeks 1-2, days 1-14)" in section and "42-day" in section
    assert f"]({BELIEF_CHART})" in section


def test_a_short_horizon_is_one_week_and_rounds_map_to_days() -> None:
    art = decode_artifacts(sample_files(forecast_days=6))
    phases = an.belief_phases(art)
    assert [p.weeks for p in phases] == ["week 1"] * 3
    assert [(p.first_day, p.last_day) for p in phases] == [(1, 2), (3, 4), (5, 6)]
    assert an.round_day(3, 6, 6) == 3.0


def test_coalitions_follow_stance_and_mutual_follows(art: an.RunArtifacts) -> None:
    groups = {tuple(g.members): g for g in an.find_coalitions(art)}
    assert set(groups) == {("a1", "a2"), ("a4", "a5"), ("a3",), ("a6",)}
    assert groups[("a1", "a2")].stance == "YES" and groups[("a1", "a2")].cohesive
    assert groups[("a4", "a5")].stance == "NO" and groups[("a4", "a5")].cohesive
    assert not groups[("a3",)].cohesive
    assert groups[("a6",)].stance == "undecided"
    # named by the stakeholders they stand for and the claims they argued together, not by post words
    report = compose_report(art)
    by_members = {tuple(g.members): g for g in report.coalitions}
    assert by_members[("a1", "a2")].name == "YES bloc of Farm Lobby"
    assert by_members[("a4", "a5")].name == "NO bloc of United Steelworkers"
    assert by_members[("a4", "a5")].shared_claims == ["Two factories closed after the last tariff round"]
    assert "shared claims: “Soybean exports fell 30% under dumping”" in report.sections["Coalitions"]


def test_a_mutual_follow_across_stances_does_not_join_coalitions() -> None:
    files = sample_files()
    social = msgspec.json.decode(files["social_graph.json"], type=A.SocialGraph)
    social.mutual.append(["a2", "a4"])
    files["social_graph.json"] = msgspec.json.encode(social)
    members = {tuple(g.members) for g in an.find_coalitions(decode_artifacts(files))}
    assert ("a1", "a2") in members and ("a4", "a5") in members


def test_compose_is_deterministic(art: an.RunArtifacts) -> None:
    assert compose_report(art).markdown() == compose_report(decode_artifacts(sample_files())).markdown()


def test_a_run_with_no_trades_or_posts_still_reports() -> None:
    files = sample_files()
    files["trades.json"] = b"[]"
    files["posts.json"] = b"[]"
    report = compose_report(decode_artifacts(files))
    assert len(report.findings) >= 2
    assert all(f.citations for f in report.findings)
    assert "0 trades" in report.sections["Market Analysis"]


def test_missing_or_malformed_artifacts_name_the_file() -> None:
    files = sample_files()
    del files["posts.json"]
    with pytest.raises(ArtifactError, match="posts.json"):
        decode_artifacts(files)
    files = sample_files()
    files["trades.json"] = b'{"not": "a list"}'
    with pytest.raises(ArtifactError, match="trades.json"):
        decode_artifacts(files)


def test_findings_explain_who_moved_the_price_which_claims_when_and_who_resisted(
    art: an.RunArtifacts,
) -> None:
    findings = {f.title: f for f in compose_report(art).findings}
    assert list(findings) == [
        "Who moved the price",
        "The claims that carried the debate",
        "When it turned",
        "Who resisted",
    ]
    movers = findings["Who moved the price"].text
    assert movers.startswith("Farm Lobby's agents moved") and "+0.19 over 2 trades" in movers
    assert "United Steelworkers pushed back -0.03" in movers
    claims = findings["The claims that carried the debate"].text
    assert "Soybean exports fell 30% under dumping" in claims and "13 reactions" in claims
    assert "Two factories closed" in claims  # the strongest answer from the other side
    turn = findings["When it turned"].text
    assert (
        "round 5 (day 35, week 5)" in turn and "The inflation report is due in May" in turn
    )  # news arrived then
    resisted = findings["Who resisted"].text
    assert resisted.startswith("United Steelworkers (2 agents) held NO") and "0.66" in resisted
    assert [str(c) for c in findings["Who resisted"].citations] == ["[p3]"]
    key = compose_report(art).sections["Key Findings"]
    assert "The most engaged post." not in key and "moved +0.00" not in key  # no counters restated


def test_the_arbitrageur_is_not_a_stakeholder_that_moved_the_price() -> None:
    files = sample_files()
    trades = msgspec.json.decode(files["trades.json"], type=list[A.Trade])
    trades.append(trade("t6", 6, "arbitrageur", "tariffs-pass", "buy", "no", 50, 20.0, 0.4, True))
    files["trades.json"] = msgspec.json.encode(trades)
    report = compose_report(decode_artifacts(files))
    assert "arbitrageur" not in report.sections["Key Findings"].split("Who resisted")[0].split("[")[0]
    assert all(f.entity_id != "unknown" for f in ex.price_flows(decode_artifacts(files), "tariffs-pass"))


def test_a_run_without_claims_still_explains_from_posts_and_trades() -> None:
    files = sample_files()
    del files["claims.json"], files["stakeholders.json"]
    report = compose_report(decode_artifacts(files))
    titles = [f.title for f in report.findings]
    assert "Who moved the price" in titles and "Who resisted" in titles and len(titles) == 4
    resisted = next(f for f in report.findings if f.title == "Who resisted")
    assert "Factory jobs vanish" in resisted.text  # the holdout's own most engaged post


def test_each_phase_says_what_arrived_and_who_moved_the_price(art: an.RunArtifacts) -> None:
    early, _mid, late = compose_report(art).sections["Belief Dynamics"].split("\n- **")[1:4]
    assert "The price was moved by Farm Lobby (+0.05) and United Steelworkers (-0.03)" in early
    assert "News: “The inflation report is due in May” (Economists)" in late and "Farm Lobby (+0.14)" in late
