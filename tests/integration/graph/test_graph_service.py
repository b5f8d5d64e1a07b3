"""The graph service against real JetStream and SeaweedFS: RunCompleted in, graph.json and GraphBuilt out."""

from __future__ import annotations

import pytest

from contracts.artifacts import ArtifactRef
from contracts.events import GraphBuilt, GraphFailed, RunCompleted, deterministic_event_id, new_event
from contracts.objects import artifact_key, graph_key
from services.graph.build import build_graph, decode_inputs
from services.graph.main import serve
from services.graph.schema import decode_graph
from tests.integration.reporter.reporter_helpers import running, upload, wait_for_event, wait_until_idle

pytestmark = pytest.mark.integration


def _completed(job_id: str, refs: list[ArtifactRef]) -> RunCompleted:
    return new_event(
        RunCompleted,
        job_id,
        run_id=f"{job_id}-a1",
        artifact_prefix=f"jobs/{job_id}/artifacts/",
        artifacts=refs,
    )


async def test_graph_is_built_stored_and_announced(settings, bus, store, run_files) -> None:
    job, refs = await upload(store, run_files)
    async with running(serve, settings, bus) as durable:
        await bus.publish(_completed(job, refs))
        event = await wait_for_event(bus, job, {"GraphBuilt", "GraphFailed"})
        ack = await bus.publish(_completed(job, refs))  # a second RunCompleted: handled, no new event
        await wait_until_idle(bus, durable, ack.seq)
    assert isinstance(event, GraphBuilt), getattr(event, "reason", "")
    assert event.event_id == deterministic_event_id(job, "GraphBuilt")
    assert event.graph_key == graph_key(job) and event.neo4j is False
    doc = decode_graph(await store.get_bytes(graph_key(job)))
    expected = build_graph(decode_inputs(run_files), job)
    assert doc == expected
    assert (event.nodes, event.edges) == (len(doc.nodes), len(doc.edges))
    assert event.nodes > 0 and any(n.kind == "agent" for n in doc.nodes)
    types = [ev.type for _, ev in await bus.job_events(job)]
    assert types.count("GraphBuilt") == 1


async def test_an_unreachable_neo4j_still_builds_the_graph(settings, bus, store, run_files) -> None:
    job, refs = await upload(store, run_files)
    with_neo4j = settings.model_copy(update={"neo4j_uri": "bolt://127.0.0.1:9", "neo4j_password": "x"})
    async with running(serve, with_neo4j, bus):
        await bus.publish(_completed(job, refs))
        event = await wait_for_event(bus, job, {"GraphBuilt", "GraphFailed"})
    assert isinstance(event, GraphBuilt) and event.neo4j is False
    assert await store.exists(graph_key(job))


async def test_a_corrupt_artifact_fails_the_graph(settings, bus, store, run_files) -> None:
    job, refs = await upload(store, run_files)
    await store.put_bytes(artifact_key(job, "social_graph.json"), b'{"edges": "tampered"}')
    async with running(serve, settings, bus):
        await bus.publish(_completed(job, refs))
        event = await wait_for_event(bus, job, {"GraphBuilt", "GraphFailed"})
    assert isinstance(event, GraphFailed)
    assert "social_graph.json is corrupt" in event.reason
    assert event.event_id == deterministic_event_id(job, "GraphFailed")
    assert not await store.exists(graph_key(job))
