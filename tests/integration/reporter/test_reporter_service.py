"""The reporter against real JetStream and SeaweedFS: ReportRequested in, report files and ReportWritten out."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import msgspec
import pytest

from contracts.artifacts import ArtifactRef
from contracts.events import ReportFailed, ReportRequested, ReportWritten, deterministic_event_id, new_event
from contracts.objects import artifact_key, report_key
from services.reporter.compose import SECTION_TITLES
from services.reporter.main import serve
from tests.integration.reporter.reporter_helpers import running, upload, wait_for_event, wait_until_idle

pytestmark = pytest.mark.integration


def _request(job_id: str, refs: list[ArtifactRef]) -> ReportRequested:
    return new_event(ReportRequested, job_id, artifact_prefix=f"jobs/{job_id}/artifacts/", artifacts=refs)


async def test_report_is_written_and_announced(settings, bus, store, run_files) -> None:
    job, refs = await upload(store, run_files)
    async with running(serve, settings, bus):
        request = _request(job, refs)
        await bus.publish(request)
        event = await wait_for_event(bus, job, {"ReportWritten", "ReportFailed"})
    assert isinstance(event, ReportWritten), getattr(event, "reason", "")
    assert event.event_id == deterministic_event_id(job, "ReportWritten")
    assert event.causation_id == request.event_id
    assert event.report_key == report_key(job, "report.md")
    assert event.verdict and event.verdict.startswith("The swarm")
    assert event.summary
    markdown = (await store.get_bytes(event.report_key)).decode()
    for title in SECTION_TITLES:
        assert f"## {title}\n" in markdown
    assert event.verdict in markdown
    names = {r.name for r in event.artifacts}
    assert names == {"report.md", "report.pdf", "result.json", "market_curves.png", "belief_distribution.png"}
    for ref in event.artifacts:
        data = await store.get_bytes(ref.key)
        assert hashlib.sha256(data).hexdigest() == ref.sha256
        if ref.name.endswith(".png"):
            assert f"]({ref.name})" in markdown and data.startswith(b"\x89PNG")
    assert (await store.get_bytes(report_key(job, "report.pdf"))).startswith(b"%PDF-")


async def test_a_repeated_request_yields_no_second_report_written(settings, bus, store, run_files) -> None:
    job, refs = await upload(store, run_files)
    async with running(serve, settings, bus) as durable:
        await bus.publish(_request(job, refs))
        await wait_for_event(bus, job, {"ReportWritten"})
        # A second request (a redelivery or a retried saga step) is handled in full again...
        ack = await bus.publish(_request(job, refs))
        await wait_until_idle(bus, durable, ack.seq)
    # ...and its ReportWritten, with the same deterministic id, is dropped by the stream.
    types = [ev.type for _, ev in await bus.job_events(job)]
    assert types.count("ReportRequested") == 2
    assert types.count("ReportWritten") == 1
    assert "ReportFailed" not in types


async def test_a_corrupt_artifact_fails_the_report_with_a_clear_reason(
    settings, bus, store, run_files
) -> None:
    job, refs = await upload(store, run_files)
    # the object changes after its digest was recorded: a corrupted upload
    await store.put_bytes(artifact_key(job, "posts.json"), run_files["posts.json"][:-5] + b"xxxxx")
    async with running(serve, settings, bus):
        await bus.publish(_request(job, refs))
        event = await wait_for_event(bus, job, {"ReportWritten", "ReportFailed"})
    assert isinstance(event, ReportFailed)
    assert "posts.json is corrupt" in event.reason and "SHA-256" in event.reason
    assert event.event_id == deterministic_event_id(job, "ReportFailed")
    assert not await store.exists(report_key(job, "report.md"))


async def test_a_missing_artifact_fails_the_report(settings, bus, store, run_files) -> None:
    job, refs = await upload(store, run_files)
    ghost = ArtifactRef(name="profiles.json", key=artifact_key(job, "nowhere.json"), size=1, sha256="0" * 64)
    refs = [r for r in refs if r.name not in ("trades.json", "profiles.json")] + [ghost]
    async with running(serve, settings, bus):
        await bus.publish(_request(job, refs))
        event = await wait_for_event(bus, job, {"ReportWritten", "ReportFailed"})
    assert isinstance(event, ReportFailed)
    assert "missing" in event.reason and ("trades.json" in event.reason or "profiles.json" in event.reason)


async def test_an_unreachable_store_is_retried_then_fails_the_report(settings, bus, run_files) -> None:
    job = uuid.uuid4().hex
    dead = settings.model_copy(update={"s3_endpoint": "http://127.0.0.1:9"})
    refs = [
        ArtifactRef(name=n, key=artifact_key(job, n), size=len(d), sha256=hashlib.sha256(d).hexdigest())
        for n, d in run_files.items()
    ]
    async with running(serve, dead, bus, max_deliver=2):
        await bus.publish(_request(job, refs))
        event = await wait_for_event(bus, job, {"ReportWritten", "ReportFailed"})
    assert isinstance(event, ReportFailed)
    assert "object store unreachable after 2 attempts" in event.reason


def _llm_sections(run_files: dict[str, bytes], cite_post: str) -> dict[str, str]:
    """The seven sections an analyst model writes, citing `cite_post` and a real curve round."""
    from contracts.artifacts import MarketCurve

    curve = msgspec.json.decode(run_files["market_curves.json"], type=list[MarketCurve])[0]
    where = f"[{curve.market_id} round {curve.points[-1].round}]"
    return {
        "executive_summary": f"The council's charge was argued out in the feed {where}.",
        "verdict": "The swarm leans one way.",
        "key_findings": f"1. A post set the tone [{cite_post}].\n2. The market settled {where}.",
        "coalitions": "Clean Air Now against the Drivers Union.",
        "market_analysis": f"The price drifted {where}.",
        "belief_dynamics": "Early weeks moved most.",
        "conclusion": "Analyst model report.",
    }


async def _report_with_model(settings, bus, store, run_files, model_url: str) -> Any:
    """One ReportRequested through a reporter whose model is at `model_url`: the outcome event."""
    with_llm = settings.model_copy(
        update={"reporter_llm_url": model_url, "reporter_llm_model": "fake/analyst"}
    )
    job, refs = await upload(store, run_files)
    async with running(serve, with_llm, bus):
        await bus.publish(_request(job, refs))
        return await wait_for_event(bus, job, {"ReportWritten", "ReportFailed"})


async def test_with_a_model_configured_the_report_is_written_by_it_with_checked_citations(
    settings, bus, store, run_files
) -> None:
    from contracts.artifacts import Post
    from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer

    post = msgspec.json.decode(run_files["posts.json"], type=list[Post])[0].post_id
    script = [
        {"tool": "get_stakeholders", "arguments": {}},
        {
            "tool": "write_report",
            "arguments": _llm_sections(run_files, "p999999"),
        },  # a post that does not exist
        {"tool": "write_report", "arguments": _llm_sections(run_files, post)},
    ]
    with FakeOpenAIServer(FakeBehaviour(model="fake/analyst", script=script)) as fake:
        event = await _report_with_model(settings, bus, store, run_files, fake.url)
        assert fake.stats()["scripted"] == 3
    assert isinstance(event, ReportWritten), getattr(event, "reason", "")
    markdown = (await store.get_bytes(event.report_key)).decode()
    assert "Analyst model report." in markdown and "Written by fake/analyst" in markdown
    assert f"[{post}]" in markdown and "p999999" not in markdown
    for title in SECTION_TITLES:
        assert f"## {title}\n" in markdown


async def test_a_model_that_fails_leaves_the_computed_report(settings, bus, store, run_files) -> None:
    from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer

    with FakeOpenAIServer(FakeBehaviour(model="fake/analyst", error_rate=1.0, error_codes=(500,))) as fake:
        event = await _report_with_model(settings, bus, store, run_files, fake.url)
        assert fake.stats()["errors"] >= 1
    assert isinstance(event, ReportWritten), getattr(event, "reason", "")
    markdown = (await store.get_bytes(event.report_key)).decode()
    assert "Written by" not in markdown and "## Key Findings\n" in markdown
