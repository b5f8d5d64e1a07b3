"""The graph service's composition root: RunCompleted -> graph.json (+ Neo4j) -> GraphBuilt.

Idempotent like the reporter: graph.json is rewritten in place, Neo4j writes are MERGEs keyed by
job, and GraphBuilt/GraphFailed have deterministic ids. Neo4j is best effort: when it fails the graph
is still built (GraphBuilt with neo4j=False, and a warning in the log).
"""

from __future__ import annotations

import asyncio
import logging

from contracts.events import (
    AnyEvent,
    GraphBuilt,
    GraphFailed,
    RunCompleted,
    deterministic_event_id,
    new_event,
)
from services.graph.build import GRAPH_INPUTS, build_graph, decode_inputs
from services.graph.neo4j_sink import write_graph
from services.graph.schema import GraphDocument, encode_graph
from services.kit.artifacts import ArtifactInvalid, fetch_verified
from services.kit.bus import Bus, Delivery
from services.kit.objectstore import ObjectStore, ObjectStoreUnavailable, graph_key
from services.kit.service import run_until_stopped
from services.kit.settings import Settings

log = logging.getLogger(__name__)


def build_graph_json(files: dict[str, bytes], job_id: str) -> tuple[GraphDocument, bytes]:
    """Artifacts in, the graph and its graph.json bytes out (CPU only)."""
    doc = build_graph(decode_inputs(files), job_id)
    return doc, encode_graph(doc)


class GraphBuilder:
    """Handles RunCompleted deliveries; holds the adapters it needs."""

    def __init__(self, bus: Bus, store: ObjectStore, settings: Settings, max_deliver: int) -> None:
        self.bus = bus
        self.store = store
        self.settings = settings
        self.max_deliver = max_deliver

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if not isinstance(event, RunCompleted):
            return
        try:
            await self._build(event, delivery)
        except ArtifactInvalid as exc:
            await self._fail(event, str(exc))
        except ObjectStoreUnavailable as exc:
            if delivery.num_delivered >= self.max_deliver:
                await self._fail(event, f"object store unreachable after {delivery.num_delivered} attempts: {exc}")
                return
            raise

    async def _build(self, event: RunCompleted, delivery: Delivery) -> None:
        files = await fetch_verified(self.store, event.artifacts, GRAPH_INPUTS)
        doc, data = await asyncio.to_thread(build_graph_json, files, event.job_id)
        await delivery.in_progress()
        key = graph_key(event.job_id)
        await self.store.put_bytes(key, data, "application/json")
        in_neo4j = await self._to_neo4j(doc, event.job_id)
        built = new_event(
            GraphBuilt,
            event.job_id,
            cause=event,
            event_id=deterministic_event_id(event.job_id, "GraphBuilt"),
            graph_key=key,
            nodes=len(doc.nodes),
            edges=len(doc.edges),
            neo4j=in_neo4j,
        )
        ack = await self.bus.publish(built)
        log.info("graph for job %s: %d nodes, %d edges, neo4j=%s (seq %s%s)", event.job_id, len(doc.nodes),
                 len(doc.edges), in_neo4j, ack.seq, ", duplicate" if ack.duplicate else "")

    async def _to_neo4j(self, doc: GraphDocument, job_id: str) -> bool:
        s = self.settings
        if not s.neo4j_uri:
            return False
        try:
            await asyncio.wait_for(
                write_graph(doc, job_id, uri=s.neo4j_uri, user=s.neo4j_user, password=s.neo4j_password),
                timeout=60.0,
            )
        except Exception as exc:  # best effort: any driver, auth or timeout error
            log.warning("graph for job %s not written to Neo4j: %s", job_id, type(exc).__name__ + f": {exc}")
            return False
        return True

    async def _fail(self, event: RunCompleted, reason: str) -> None:
        log.warning("graph for job %s failed: %s", event.job_id, reason)
        failed = new_event(
            GraphFailed,
            event.job_id,
            cause=event,
            event_id=deterministic_event_id(event.job_id, "GraphFailed"),
            reason=reason,
        )
        await self.bus.publish(failed)


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    durable: str = "graph",
    deliver_new: bool = False,
    max_deliver: int = 8,
) -> None:
    """Consume RunCompleted until `stop` is set. `durable`/`deliver_new` let tests run a private consumer."""
    bus = await Bus.connect(settings.nats_url, name=durable, login=settings.nats_login("graph"))
    try:
        await bus.ensure_streams(settings.stream_replicas)
        builder = GraphBuilder(bus, ObjectStore(settings), settings, max_deliver)
        task = await bus.consume(
            durable, ["RunCompleted"], builder.handle,
            max_ack_pending=4, max_deliver=max_deliver, deliver_new=deliver_new,
        )
        log.info("graph consuming RunCompleted as %s", durable)
        await run_until_stopped(stop, task)
    finally:
        await bus.close()
