"""A completed job's outputs as the API shows them: the structured result (result.json), the graph
(graph.json, capped for a browser) and the PDF. Read from the object store; shared by the owner's
routes and the public share routes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import msgspec

from contracts.objects import report_key
from contracts.results import RESULT_FILE, JobResult
from services.gateway.errors import ApiError, object_store_unavailable
from services.kit.objectstore import ObjectNotFound

log = logging.getLogger(__name__)

PDF_FILE = "report.pdf"
MAX_GRAPH_NODES = 1_000  # what a browser's force layout draws smoothly
MAX_GRAPH_EDGES = 4_000
_CACHE_SIZE = 256


class _ResultCache:
    """result.json per job: written once by the reporter (a redelivery rewrites the same bytes)."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, job_id: str) -> dict[str, Any] | None:
        if job_id in self._items:
            self._items.move_to_end(job_id)
            return self._items[job_id]
        return None

    def put(self, job_id: str, value: dict[str, Any]) -> None:
        self._items[job_id] = value
        while len(self._items) > _CACHE_SIZE:
            self._items.popitem(last=False)


_results = _ResultCache()


async def read_object(store: Any, key: str | None, missing: ApiError) -> bytes:
    """The stored bytes at `key`: `missing` (a 404) when there is no key or no object yet, 503
    `object_store_unavailable` when the store does not answer."""
    if not key:
        raise missing
    try:
        data: bytes = await store.get_bytes(key)
    except ObjectNotFound:
        raise missing from None
    except Exception as exc:
        raise object_store_unavailable(exc) from exc
    return data


async def job_result(store: Any, row: dict[str, Any]) -> dict[str, Any] | None:
    """The structured result of a completed job, or None (not complete, no report, an older run
    without result.json, or the store unreachable: the job itself still reads)."""
    job_id = str(row.get("job_id"))
    if row.get("status") != "completed" or not row.get("report_key"):
        return None
    if (cached := _results.get(job_id)) is not None:
        return cached
    try:
        data = await store.get_bytes(report_key(job_id, RESULT_FILE))
        value: dict[str, Any] = msgspec.to_builtins(msgspec.json.decode(data, type=JobResult))
    except ObjectNotFound:
        return None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("job %s: result.json unreadable: %s", job_id, exc)
        return None
    except Exception as exc:  # the store is down: answer without the result rather than fail the read
        log.warning("job %s: result.json not read: %s", job_id, exc)
        return None
    _results.put(job_id, value)
    return value


async def read_pdf(store: Any, row: dict[str, Any]) -> bytes:
    """The report's PDF; 404 `report_not_ready` until the reporter has written it."""
    job_id = str(row.get("job_id"))
    key = report_key(job_id, PDF_FILE) if row.get("report_key") else None
    return await read_object(store, key, report_not_ready(job_id))


def report_not_ready(job_id: str) -> ApiError:
    """404 `report_not_ready`: the reporter has not written the job's report (markdown or PDF) yet."""
    return ApiError(404, "report_not_ready", f"the report of job {job_id} is not written yet")


def _node(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    props = raw.get("props")
    return {
        "id": raw["id"],
        "label": str(raw.get("label") or raw["id"]),
        "kind": str(raw.get("kind") or ""),
        "props": props if isinstance(props, dict) else {},
    }


def _edge(raw: Any) -> dict[str, Any] | None:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("source"), str)
        or not isinstance(raw.get("target"), str)
    ):
        return None
    weight = raw.get("weight")
    return {
        "source": raw["source"],
        "target": raw["target"],
        "type": str(raw.get("type") or ""),
        "weight": float(weight) if isinstance(weight, int | float) else 1.0,
    }


def cap_graph(doc: dict[str, Any], max_nodes: int, max_edges: int) -> dict[str, Any]:
    """Nodes and edges a browser can draw: above the caps, the most connected nodes (by weighted
    degree, entities first on ties) and the heaviest edges among them; `truncated` says so."""
    nodes = [n for n in map(_node, doc.get("nodes") or []) if n is not None]
    edges = [e for e in map(_edge, doc.get("edges") or []) if e is not None]
    total_nodes, total_edges = len(nodes), len(edges)
    truncated = total_nodes > max_nodes or total_edges > max_edges
    if truncated:
        degree: dict[str, float] = {}
        for e in edges:
            degree[e["source"]] = degree.get(e["source"], 0.0) + e["weight"]
            degree[e["target"]] = degree.get(e["target"], 0.0) + e["weight"]
        ranked = sorted(nodes, key=lambda n: (-degree.get(n["id"], 0.0), n["kind"] != "entity", n["id"]))
        nodes = sorted(ranked[:max_nodes], key=lambda n: n["id"])
        kept = {n["id"] for n in nodes}
        inside = [e for e in edges if e["source"] in kept and e["target"] in kept]
        inside.sort(key=lambda e: (-e["weight"], e["source"], e["target"], e["type"]))
        edges = sorted(inside[:max_edges], key=lambda e: (e["source"], e["target"], e["type"]))
    counts = doc.get("counts")
    return {
        "nodes": nodes,
        "edges": edges,
        "truncated": truncated,
        "total_nodes": total_nodes,
        "total_edges": total_edges,
        "counts": counts if isinstance(counts, dict) else {},
    }


async def read_graph(store: Any, row: dict[str, Any], max_nodes: int, max_edges: int) -> dict[str, Any]:
    """The job's graph capped for a browser; 404 `graph_not_ready` until the graph service built it."""
    job_id = str(row.get("job_id"))
    not_ready = ApiError(404, "graph_not_ready", f"the graph of job {job_id} is not built yet")
    data = await read_object(store, row.get("graph_key"), not_ready)
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        log.warning("job %s: graph.json unreadable: %s", job_id, exc)
        raise ApiError(404, "graph_not_ready", f"the graph of job {job_id} is unreadable") from exc
    return {"job_id": job_id, **cap_graph(doc if isinstance(doc, dict) else {}, max_nodes, max_edges)}
