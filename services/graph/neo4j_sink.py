"""Writing a run's graph into Neo4j (optional): MERGE per job, so a rewrite changes nothing.

Every node is `(:SimSwarmNode:<Kind> {job_id, id})`, every relationship carries `job_id`; one job's
graph can be queried, replaced or deleted on its own. Relationship types and kind labels come from a
sanitised UPPER_SNAKE / Capitalised form, never from raw input, because Cypher cannot parameterise them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from services.graph.build import edge_type
from services.graph.schema import GraphDocument

BATCH = 1000
NODE_LABEL = "SimSwarmNode"
SCHEMA_STATEMENTS: tuple[str, ...] = (
    f"CREATE CONSTRAINT simswarm_node_key IF NOT EXISTS FOR (n:{NODE_LABEL}) REQUIRE (n.job_id, n.id) IS UNIQUE",
)

Statement = tuple[str, dict[str, Any]]


def kind_label(kind: str) -> str:
    """A node kind as a safe Neo4j label (`agent` -> `Agent`)."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", " ", kind).title().replace(" ", "")
    return cleaned if cleaned and cleaned[0].isalpha() else "Node"


def _property(value: Any) -> Any:
    """Neo4j stores primitives and homogeneous lists of primitives; anything else as JSON text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return value
    return json.dumps(value, sort_keys=True)


def _props(props: dict[str, Any]) -> dict[str, Any]:
    return {k: _property(v) for k, v in sorted(props.items()) if v is not None}


def _batches(
    groups: dict[str, list[dict[str, Any]]], job_id: str, query: Callable[[str], str]
) -> list[Statement]:
    """`query(name)` over each group's rows in batches of BATCH; groups in name order (deterministic)."""
    return [
        (query(name), {"job_id": job_id, "rows": rows[i : i + BATCH]})
        for name, rows in sorted(groups.items())
        for i in range(0, len(rows), BATCH)
    ]


def graph_statements(doc: GraphDocument, job_id: str) -> list[Statement]:
    """The Cypher to MERGE one job's graph: nodes (per kind) first, then edges (per type), in batches."""
    nodes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in doc.nodes:
        nodes[kind_label(n.kind)].append(
            {"id": n.id, "label": n.label, "kind": n.kind, "props": _props(n.props)}
        )
    edges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in doc.edges:
        row = {"source": e.source, "target": e.target, "weight": e.weight, "props": _props(e.props)}
        edges[edge_type(e.type)].append(row)
    return _batches(nodes, job_id, _merge_nodes) + _batches(edges, job_id, _merge_edges)


def _merge_nodes(label: str) -> str:
    return (
        f"UNWIND $rows AS row MERGE (n:{NODE_LABEL} {{job_id: $job_id, id: row.id}}) SET n:{label} "
        "SET n += row.props, n.label = row.label, n.kind = row.kind"
    )


def _merge_edges(rel: str) -> str:
    return (
        f"UNWIND $rows AS row MATCH (a:{NODE_LABEL} {{job_id: $job_id, id: row.source}}) "
        f"MATCH (b:{NODE_LABEL} {{job_id: $job_id, id: row.target}}) "
        f"MERGE (a)-[r:{rel} {{job_id: $job_id}}]->(b) SET r += row.props, r.weight = row.weight"
    )


async def write_graph(
    doc: GraphDocument, job_id: str, *, uri: str, user: str, password: str | None, timeout: float = 10.0
) -> None:
    """MERGE the graph into Neo4j in one write transaction; raises on any failure (the caller decides)."""
    from neo4j import AsyncGraphDatabase

    auth = (user, password) if password else None
    driver = AsyncGraphDatabase.driver(
        uri,
        auth=auth,
        connection_timeout=timeout,
        max_transaction_retry_time=timeout,
        connection_acquisition_timeout=timeout,
    )
    try:
        await driver.verify_connectivity()
        async with driver.session() as session:
            for statement in SCHEMA_STATEMENTS:
                result = await session.run(statement)
                await result.consume()
            statements = graph_statements(doc, job_id)

            async def work(tx: Any) -> None:
                for query, params in statements:
                    result = await tx.run(query, params)
                    await result.consume()

            await session.execute_write(work)
    finally:
        await driver.close()
