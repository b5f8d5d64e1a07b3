"""The graph service's composition root: RunCompleted -> graph.json (+ Neo4j) -> GraphBuilt.

An artifact worker like the reporter (services/kit/worker.py): graph.json is rewritten in place,
Neo4j writes are MERGEs keyed by job, and GraphBuilt/GraphFailed have deterministic ids. Neo4j is
best effort: when it fails the graph is still built (GraphBuilt with neo4j=False, and a warning).
"""

from __future__ import annotations

import asyncio
import logging

from contracts.events import GraphBuilt, GraphFailed, RunCompleted
from contracts.objects import graph_key
from services.graph.build import GRAPH_INPUTS, build_graph, decode_inputs
from services.graph.neo4j_sink import write_graph
from services.graph.schema import GraphDocument, encode_graph
from services.kit.bus import Delivery
from services.kit.worker import ArtifactWorker

log = logging.getLogger(__name__)


def build_graph_json(files: dict[str, bytes], job_id: str) -> tuple[GraphDocument, bytes]:
    """Artifacts in, the graph and its graph.json bytes out (CPU only)."""
    doc = build_graph(decode_inputs(files), job_id)
    return doc, encode_graph(doc)


class GraphBuilder(ArtifactWorker):
    """Handles RunCompleted deliveries (services/kit/worker.py does the consuming and failing)."""

    service = "graph"
    trigger = RunCompleted
    inputs = GRAPH_INPUTS
    failed = GraphFailed
    what = "graph"

    async def produce(self, event: RunCompleted, files: dict[str, bytes], delivery: Delivery) -> None:
        doc, data = await asyncio.to_thread(build_graph_json, files, event.job_id)
        await delivery.in_progress()
        key = graph_key(event.job_id)
        await self.store.put_bytes(key, data, "application/json")
        in_neo4j = await self._to_neo4j(doc, event.job_id)
        ack = await self.publish_outcome(
            GraphBuilt, event, graph_key=key, nodes=len(doc.nodes), edges=len(doc.edges), neo4j=in_neo4j
        )
        log.info(
            "graph for job %s: %d nodes, %d edges, neo4j=%s (seq %s%s)",
            event.job_id,
            len(doc.nodes),
            len(doc.edges),
            in_neo4j,
            ack.seq,
            ", duplicate" if ack.duplicate else "",
        )

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


# RunCompleted consumed until `stop` is set (the service's entry: services/kit/service.py runs it).
serve = GraphBuilder.serve
