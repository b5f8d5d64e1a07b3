"""Building the entity/interaction graph from a run's artifacts. Pure: decoded artifacts in, a document out.

Nodes: entities (from profiles' entity ids/types and the endpoints of relations.json) and agents.
Edges: agent REPRESENTS entity; typed entity relations with their fact; FOLLOWS (social_graph.json);
and interactions aggregated per (who, whom): REPLIED_TO (posts.json), VOTED and REPOSTED
(successful chat_log actions), weight = how many times. Self-interactions are left out.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from contracts.artifacts import ChatLogEntry, Post, Profile, Relation, SocialGraph
from services.graph.schema import GraphDocument, GraphEdge, GraphNode
from services.kit.artifacts import ArtifactInvalid, decode_files

# GraphInputs' fields and the files they are decoded from (chat_log.json when the run has it)
GRAPH_REQUIRED: dict[str, str] = {
    "profiles": "profiles.json",
    "social": "social_graph.json",
    "posts": "posts.json",
    "relations": "relations.json",
}
GRAPH_OPTIONAL: dict[str, str] = {"chat_log": "chat_log.json"}
GRAPH_INPUTS: tuple[str, ...] = (*GRAPH_REQUIRED.values(), *GRAPH_OPTIONAL.values())


class GraphInputError(ArtifactInvalid):
    """A graph input that is missing or not of the contract's shape; the message names the file."""


@dataclass(frozen=True)
class GraphInputs:
    profiles: list[Profile]
    relations: list[Relation]
    social: SocialGraph
    posts: list[Post]
    chat_log: list[ChatLogEntry] = field(default_factory=list)


def decode_inputs(files: Mapping[str, bytes]) -> GraphInputs:
    """Decode the graph's inputs (keyed by file name); raise GraphInputError naming the bad file."""
    return GraphInputs(**decode_files(files, GRAPH_REQUIRED, GRAPH_OPTIONAL, GraphInputError))


def entity_node_id(entity_id: str) -> str:
    return f"entity:{entity_id}"


def agent_node_id(agent_id: str) -> str:
    return f"agent:{agent_id}"


def edge_type(raw: str) -> str:
    """Relation types as UPPER_SNAKE (safe as a Neo4j relationship type)."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", raw).strip("_").upper()
    return cleaned if cleaned and not cleaned[0].isdigit() else f"REL_{cleaned or 'UNKNOWN'}"


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, GraphNode] = {}
        self.edges: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}

    def node(self, node_id: str, label: str, kind: str, props: dict[str, Any] | None = None) -> None:
        if node_id not in self.nodes:
            self.nodes[node_id] = GraphNode(id=node_id, label=label, kind=kind, props=props or {})

    def edge(
        self, source: str, target: str, type_: str, weight: float = 1.0, props: dict[str, Any] | None = None
    ) -> None:
        key = (source, target, type_)
        if key in self.edges:  # aggregate: weights add, the first props stay
            w, p = self.edges[key]
            self.edges[key] = (w + weight, p)
        else:
            self.edges[key] = (weight, dict(props or {}))

    def document(self, job_id: str | None) -> GraphDocument:
        nodes = [self.nodes[k] for k in sorted(self.nodes)]
        edges = [
            GraphEdge(source=s, target=t, type=ty, weight=w, props=p)
            for (s, t, ty), (w, p) in sorted(self.edges.items())
        ]
        counts: Counter[str] = Counter()
        counts.update(f"nodes.{n.kind}" for n in nodes)
        counts.update(f"edges.{e.type}" for e in edges)
        counts["nodes"], counts["edges"] = len(nodes), len(edges)
        return GraphDocument(job_id=job_id, nodes=nodes, edges=edges, counts=dict(sorted(counts.items())))


def build_graph(inputs: GraphInputs, job_id: str | None = None) -> GraphDocument:
    """The graph of one run: every node once, edges aggregated, output sorted (deterministic)."""
    b = _Builder()
    names = {p.agent_id: p.name for p in inputs.profiles}
    by_name = {p.name: p.agent_id for p in inputs.profiles}

    def agent(ref: str) -> str:
        agent_id = ref if ref in names else by_name.get(ref, ref)
        b.node(agent_node_id(agent_id), names.get(agent_id, agent_id), "agent", {"known": False})
        return agent_node_id(agent_id)

    members: dict[str, list[str]] = defaultdict(list)
    entity_types: dict[str, str] = {}
    for p in inputs.profiles:
        members[p.entity_id].append(p.agent_id)
        entity_types.setdefault(p.entity_id, p.entity_type)
    for entity_id, agent_ids in members.items():
        b.node(
            entity_node_id(entity_id),
            _entity_label(entity_id),
            "entity",
            {"entity_type": entity_types[entity_id], "agents": len(agent_ids)},
        )
    for p in inputs.profiles:
        b.node(
            agent_node_id(p.agent_id),
            p.name,
            "agent",
            {
                "entity_id": p.entity_id,
                "entity_type": p.entity_type,
                "initial_position": p.initial_position,
                "final_position": p.final_position,
                "cash": p.cash,
                **{f"total_{k}": v for k, v in sorted(p.totals.items())},
            },
        )
        b.edge(agent_node_id(p.agent_id), entity_node_id(p.entity_id), "REPRESENTS")

    for r in inputs.relations:
        src, dst = entity_node_id(r.source), entity_node_id(r.target)
        for eid, nid in ((r.source, src), (r.target, dst)):
            b.node(nid, _entity_label(eid), "entity", {"entity_type": "unknown", "agents": 0})
        b.edge(src, dst, edge_type(r.type), r.weight, {"fact": r.fact})

    for f in inputs.social.edges:
        if f.source != f.target:
            b.edge(agent(f.source), agent(f.target), "FOLLOWS", 1.0, {"round": f.round})
    mutual = {tuple(sorted((agent(m[0]), agent(m[1])))) for m in inputs.social.mutual if len(m) >= 2}

    author = {p.post_id: p.author for p in inputs.posts}
    for post in inputs.posts:
        parent = post.parent_id
        if parent and parent in author and _other(post.author, author[parent], names, by_name):
            b.edge(agent(post.author), agent(author[parent]), "REPLIED_TO")
    votes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for entry in inputs.chat_log:
        post_id = str(entry.args.get("post_id", ""))
        if not entry.success or post_id not in author:
            continue
        if not _other(entry.agent_id, author[post_id], names, by_name):
            continue
        if entry.action_type == "vote":
            up = _as_int(entry.args.get("value")) > 0
            votes[(agent(entry.agent_id), agent(author[post_id]))]["up" if up else "down"] += 1
        elif entry.action_type == "repost":
            b.edge(agent(entry.agent_id), agent(author[post_id]), "REPOSTED")
    for (src, dst), c in sorted(votes.items()):
        b.edge(src, dst, "VOTED", float(c["up"] + c["down"]), {"up": c["up"], "down": c["down"]})

    doc = b.document(job_id)
    if mutual:
        doc.edges = [
            msgspec.structs.replace(e, props={**e.props, "mutual": True})
            if e.type == "FOLLOWS" and tuple(sorted((e.source, e.target))) in mutual
            else e
            for e in doc.edges
        ]
    return doc


def _entity_label(entity_id: str) -> str:
    return " ".join(w.capitalize() for w in re.split(r"[-_\s]+", entity_id) if w) or entity_id


def _other(a: str, b: str, names: dict[str, str], by_name: dict[str, str]) -> bool:
    """True when two agent references name different agents (ids or names)."""

    def norm(x: str) -> str:
        return x if x in names else by_name.get(x, x)

    return norm(a) != norm(b)


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
