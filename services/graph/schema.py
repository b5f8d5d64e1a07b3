"""The shape of graph.json: typed nodes and weighted, typed edges. Versioned like the other artifacts."""

from __future__ import annotations

from typing import Any

import msgspec

GRAPH_SCHEMA_VERSION = 1


class GraphNode(msgspec.Struct, kw_only=True, frozen=True):
    """An entity (`entity:<slug>`) or an agent (`agent:<agent_id>`)."""

    id: str
    label: str
    kind: str  # "entity" | "agent"
    props: dict[str, Any] = {}


class GraphEdge(msgspec.Struct, kw_only=True, frozen=True):
    """A directed edge; `weight` counts aggregated interactions (1 for relations and follows)."""

    source: str
    target: str
    type: str
    weight: float = 1.0
    props: dict[str, Any] = {}


class GraphDocument(msgspec.Struct, kw_only=True):
    """graph.json: every node once, edges sorted by (source, target, type)."""

    job_id: str | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    version: int = GRAPH_SCHEMA_VERSION
    counts: dict[str, int] = {}


def encode_graph(doc: GraphDocument) -> bytes:
    """graph.json bytes (stable: the same document always encodes to the same bytes)."""
    return msgspec.json.encode(doc, order="deterministic")


def decode_graph(data: bytes) -> GraphDocument:
    return msgspec.json.decode(data, type=GraphDocument)
