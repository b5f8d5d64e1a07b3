"""The LLM-written report against the local OpenAI-compatible test server (tests/fakes/openai_server.py).

The server answers with a script, so each test plays one dialogue: the model reads the artifacts
with tools, writes the report, and is held to real citations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from services.reporter.artifacts import RunArtifacts, decode_artifacts
from services.reporter.compose import SECTION_TITLES, Report, compose_report
from services.reporter.llm_report import MAX_REPAIRS, ReporterLLM, known_citations, write_llm_report
from services.reporter.main import render_composed
from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer, free_port
from tests.unit.reporter.reporter_samples import sample_files

MODEL = "fake/analyst"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehaviour(model=MODEL)) as server:
        yield server


@pytest.fixture
def art() -> RunArtifacts:
    return decode_artifacts(sample_files())


def _sections(findings: str) -> dict[str, str]:
    return {
        "executive_summary": "Farm Lobby's trades carried the tariff market to 0.66 [tariffs-pass round 5].",
        "verdict": "The swarm expects the tariff bill to pass.",
        "key_findings": findings,
        "coalitions": "A YES bloc of Farm Lobby arguing soybean exports [c1]; a NO bloc of United Steelworkers [c2].",
        "market_analysis": "Bob Tariff's YES buy [t3] moved the market from 0.52 to 0.66.",
        "belief_dynamics": "Week 5 decided it, when the inflation report [c3] arrived [tariffs-pass round 5].",
        "conclusion": "A map of arguments, not a forecast.",
    }


GOOD = (
    "1. Farm Lobby moved the price [t3].\n2. Soybean exports carried the debate [p2].\n"
    "3. It turned in week 5 [tariffs-pass round 5].\n4. The steelworkers resisted [p3]."
)
BAD = GOOD.replace("[p2]", "[p999]")


async def _run(
    fake: FakeOpenAIServer, art: RunArtifacts, script: list[dict[str, Any]], **cfg: Any
) -> tuple[Report | None, list[dict[str, Any]]]:
    before = len(fake.requests())  # recorded by earlier tests
    fake.configure(script=script)
    report = await write_llm_report(art, compose_report(art), ReporterLLM(url=fake.url, model=MODEL, **cfg))
    return report, fake.requests()[before:]


def _tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(m["content"]) for m in request["messages"] if m.get("role") == "tool"]


async def test_a_citation_of_a_nonexistent_post_is_rejected_and_repaired(
    fake: FakeOpenAIServer, art: RunArtifacts
) -> None:
    script = [
        {"tool": "get_findings", "arguments": {}},
        {"tool": "get_market_curve", "arguments": {"market_id": "tariffs-pass"}},
        {"tool": "write_report", "arguments": _sections(BAD)},
        {"tool": "write_report", "arguments": _sections(GOOD)},
    ]
    report, requests = await _run(fake, art, script)
    assert report is not None and report.written_by == MODEL
    md = report.markdown()
    assert "[p999]" not in md and "[p2]" in md and "Soybean exports carried the debate" in md
    assert [f"## {t}\n" in md for t in SECTION_TITLES] == [True] * len(SECTION_TITLES)
    assert "market_curves.png" in md and "belief_distribution.png" in md  # charts stay in the report
    # the tools answered from the artifacts
    results = _tool_results(requests[2])
    assert results[0][0]["title"] == "Who moved the price"
    assert "[tariffs-pass round 5]" in json.dumps(results[1])
    # the bad citation came back to the model as the write_report tool's result, naming the post
    rejection = _tool_results(requests[3])[-1]
    assert rejection["error"] == "the report was not accepted"
    assert any("[p999]" in p for p in rejection["problems"])
    # every citation in the accepted report exists in the artifacts
    known = known_citations(art)
    for ref in re.findall(r"(?<!!)\[([^\]]+)\](?!\()", md):
        assert ref in known, ref


async def test_a_model_that_keeps_citing_what_does_not_exist_falls_back(
    fake: FakeOpenAIServer, art: RunArtifacts
) -> None:
    script = [{"tool": "write_report", "arguments": _sections(BAD)}] * (MAX_REPAIRS + 1)
    report, requests = await _run(fake, art, script)
    assert report is None  # the caller keeps the computed report
    assert len(requests) == MAX_REPAIRS + 1


async def test_missing_sections_and_uncited_findings_are_sent_back(
    fake: FakeOpenAIServer, art: RunArtifacts
) -> None:
    incomplete = _sections("Four findings without any citation.")
    del incomplete["conclusion"]
    script = [
        {"tool": "write_report", "arguments": incomplete},
        {"tool": "write_report", "arguments": _sections(GOOD)},
    ]
    report, requests = await _run(fake, art, script)
    assert report is not None
    problems = " ".join(_tool_results(requests[1])[-1]["problems"])
    assert "'Conclusion' is missing" in problems and "Key Findings must cite" in problems


async def test_malformed_arguments_and_unknown_tools_do_not_end_the_loop(
    fake: FakeOpenAIServer, art: RunArtifacts
) -> None:
    script = [
        {"tool": "get_agent", "arguments": '{"agent_id": "a1"'},  # truncated JSON
        {"tool": "launch_rocket", "arguments": {}},
        {"tool": "get_agent", "arguments": {"agent_id": "a4"}},
        {"content": "Let me think about it."},
        {"tool": "write_report", "arguments": _sections(GOOD)},
    ]
    report, requests = await _run(fake, art, script)
    assert report is not None
    results = _tool_results(requests[3])
    assert "not valid JSON" in results[0]["error"] and "unknown tool" in results[1]["error"]
    assert results[2]["stakeholder"] == "unions" and results[2]["posts"][0]["post_id"] == "p3"


async def test_the_loop_is_bounded_and_the_last_turn_can_only_write(
    fake: FakeOpenAIServer, art: RunArtifacts
) -> None:
    script = [{"tool": "get_claims", "arguments": {}}] * 4
    report, requests = await _run(fake, art, script, max_turns=4)
    assert report is None and len(requests) == 4
    assert requests[-1]["tools"] == ["write_report"] and "get_claims" in requests[0]["tools"]
    assert requests[-1]["tool_choice"] == {"type": "function", "function": {"name": "write_report"}}
    assert requests[0]["tool_choice"] == "auto"


async def test_an_unreachable_endpoint_falls_back(art: RunArtifacts) -> None:
    cfg = ReporterLLM(url=f"http://127.0.0.1:{free_port()}/v1", model=MODEL, timeout_s=2.0)
    assert await write_llm_report(art, compose_report(art), cfg) is None


async def test_an_llm_report_renders_like_a_computed_one(fake: FakeOpenAIServer, art: RunArtifacts) -> None:
    report, _ = await _run(fake, art, [{"tool": "write_report", "arguments": _sections(GOOD)}])
    assert report is not None
    rendered = render_composed(art, report)
    assert rendered.pdf.startswith(b"%PDF-") and set(rendered.charts) == {
        "market_curves.png",
        "belief_distribution.png",
    }
    assert "Written by fake/analyst" in rendered.markdown
    assert rendered.verdict == compose_report(art).verdict  # the event's verdict stays the computed one


async def test_every_turn_tells_the_bus_the_report_is_still_in_progress(
    fake: FakeOpenAIServer, art: RunArtifacts
) -> None:
    beats: list[int] = []

    async def heartbeat() -> None:
        beats.append(1)

    fake.configure(
        script=[
            {"tool": "get_claims", "arguments": {}},
            {"tool": "write_report", "arguments": _sections(GOOD)},
        ]
    )
    report = await write_llm_report(
        art, compose_report(art), ReporterLLM(url=fake.url, model=MODEL), heartbeat=heartbeat
    )
    assert report is not None and len(beats) == 2


async def test_a_busy_endpoint_is_asked_three_times_then_the_computed_report_stands(
    fake: FakeOpenAIServer, art: RunArtifacts
) -> None:
    fake.configure(error_rate=1.0, error_codes=[503], script=[])
    try:
        before = fake.stats()["errors"]
        assert (
            await write_llm_report(art, compose_report(art), ReporterLLM(url=fake.url, model=MODEL)) is None
        )
        assert fake.stats()["errors"] - before == 3  # the first try and two retries, then no more
    finally:
        fake.configure(error_rate=0.0)
