"""The entity/interaction graph built from artifacts: counts, aggregation, uniqueness, determinism."""

from __future__ import annotations

import msgspec
import pytest

from contracts import artifacts as A
from services.graph.build import GraphInputError, build_graph, decode_inputs, edge_type
from services.graph.neo4j_sink import graph_statements, kind_label
from services.graph.schema import decode_graph, encode_graph
from tests.unit.reporter.reporter_samples import sample_files


def _edges(doc, type_: str) -> dict[tuple[str, str], object]:
    return {(e.source, e.target): e for e in doc.edges if e.type == type_}


def test_nodes_are_entities_and_agents_each_once() -> None:
    doc = build_graph(decode_inputs(sample_files()), "job1")
    ids = [n.id for n in doc.nodes]
    assert len(ids) == len(set(ids)) == 10
    kinds = {n.id: n.kind for n in doc.nodes}
    assert sum(k == "agent" for k in kinds.values()) == 6
    # farm-lobby, unions, economists from profiles; congress only from relations.json
    assert {i for i, k in kinds.items() if k == "entity"} == {
        "entity:farm-lobby",
        "entity:unions",
        "entity:economists",
        "entity:congress",
    }
    alice = next(n for n in doc.nodes if n.id == "agent:a1")
    assert alice.label == "Alice Trade" and alice.props["final_position"] == 0.7
    assert doc.counts["nodes"] == 10 and doc.counts["edges"] == len(doc.edges) == 21


def test_edges_by_type_on_the_constructed_case() -> None:
    doc = build_graph(decode_inputs(sample_files()))
    assert doc.counts["edges.REPRESENTS"] == 6
    assert doc.counts["edges.FOLLOWS"] == 6
    relation = _edges(doc, "DISAGREES_WITH")[("entity:farm-lobby", "entity:unions")]
    assert relation.props == {"fact": "Split on tariffs"}
    follows = _edges(doc, "FOLLOWS")
    assert follows[("agent:a1", "agent:a2")].props.get("mutual") is True
    assert "mutual" not in follows[("agent:a3", "agent:a1")].props


def test_interactions_are_aggregated_with_counts_and_skip_self_and_failures() -> None:
    doc = build_graph(decode_inputs(sample_files()))
    reposts = _edges(doc, "REPOSTED")
    assert reposts[("agent:a1", "agent:a2")].weight == 2.0  # two reposts of p2
    votes = _edges(doc, "VOTED")
    assert votes[("agent:a2", "agent:a4")].props == {"up": 0, "down": 1}
    assert set(votes) == {("agent:a2", "agent:a1"), ("agent:a3", "agent:a1"), ("agent:a2", "agent:a4")}
    replies = _edges(doc, "REPLIED_TO")
    assert set(replies) == {("agent:a5", "agent:a1"), ("agent:a4", "agent:a2")}
    assert all(e.source != e.target for e in doc.edges)
    node_ids = {n.id for n in doc.nodes}
    assert all(e.source in node_ids and e.target in node_ids for e in doc.edges)


def test_output_is_deterministic_and_round_trips() -> None:
    a = encode_graph(build_graph(decode_inputs(sample_files()), "job1"))
    b = encode_graph(build_graph(decode_inputs(sample_files()), "job1"))
    assert a == b
    doc = decode_graph(a)
    assert doc.job_id == "job1" and doc.version == 1
    assert [e.source + e.target + e.type for e in doc.edges] == sorted(
        e.source + e.target + e.type for e in doc.edges
    )


def test_authors_given_by_name_resolve_to_agents() -> None:
    files = sample_files()
    posts = msgspec.json.decode(files["posts.json"], type=list[A.Post])
    for p in posts:
        p.author = {"a4": "Dan Jobs", "a2": "Bob Tariff"}.get(p.author, p.author)
    files["posts.json"] = msgspec.json.encode(posts)
    doc = build_graph(decode_inputs(files))
    assert ("agent:a4", "agent:a2") in _edges(doc, "REPLIED_TO")
    assert len(doc.nodes) == 10


def test_without_a_chat_log_votes_and_reposts_are_left_out() -> None:
    files = sample_files()
    del files["chat_log.json"]
    doc = build_graph(decode_inputs(files))
    assert "edges.VOTED" not in doc.counts and "edges.REPOSTED" not in doc.counts
    assert doc.counts["edges.REPLIED_TO"] == 2


def test_missing_required_input_is_a_clear_error() -> None:
    files = sample_files()
    del files["relations.json"]
    with pytest.raises(GraphInputError, match="relations.json"):
        decode_inputs(files)


def test_relation_types_and_labels_are_safe_for_cypher() -> None:
    assert edge_type("disagrees with") == "DISAGREES_WITH"
    assert edge_type("x]->(m) DETACH DELETE m //") == "X_M_DETACH_DELETE_M"
    assert edge_type("2nd") == "REL_2ND"
    assert kind_label("agent") == "Agent" and kind_label("}) DELETE") == "Delete"


def test_neo4j_statements_merge_every_node_and_edge_per_job() -> None:
    doc = build_graph(decode_inputs(sample_files()), "job1")
    statements = graph_statements(doc, "job1")
    rows = sum(len(p["rows"]) for q, p in statements)
    assert rows == len(doc.nodes) + len(doc.edges)
    assert all(p["job_id"] == "job1" and "MERGE" in q for q, p in statements)
    for _, params in statements:
        for row in params["rows"]:
            assert all(not isinstance(v, dict) for v in row["props"].values())
