"""A completed job's graph (nodes and edges, capped for a browser) and its report as a PDF."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from services.gateway.api_models import JobGraph
from services.gateway.auth import Ctx, CurrentUser
from services.gateway.errors import error_responses
from services.gateway.responses import PDF, sends
from services.gateway.results import MAX_GRAPH_EDGES, MAX_GRAPH_NODES, read_graph, read_pdf
from services.gateway.routes.jobs import load_job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

MaxNodes = Annotated[int, Query(ge=1, le=MAX_GRAPH_NODES, description="at most this many nodes")]
MaxEdges = Annotated[int, Query(ge=1, le=MAX_GRAPH_EDGES, description="at most this many edges")]


@dataclass(frozen=True)
class GraphCaps:
    """How much of a graph a browser is sent (`?max_nodes=&max_edges=`)."""

    max_nodes: int
    max_edges: int


def graph_caps(max_nodes: MaxNodes = MAX_GRAPH_NODES, max_edges: MaxEdges = MAX_GRAPH_EDGES) -> GraphCaps:
    """Dependency: the graph routes' (owner's and shared) two query parameters."""
    return GraphCaps(max_nodes, max_edges)


Caps = Annotated[GraphCaps, Depends(graph_caps)]


async def pdf_download(store: Any, row: dict[str, Any]) -> Response:
    """The job's report as a PDF attachment (the owner's route and a share link's alike)."""
    job_id = str(row["job_id"])
    return Response(
        await read_pdf(store, row),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="simswarm-{job_id}.pdf"'},
    )


@router.get(
    "/{job_id}/graph",
    summary="The entity and social graph",
    responses={200: {"model": JobGraph}, **error_responses(401, 404, 422, 503)},
)
async def job_graph(job_id: str, ctx: Ctx, user: CurrentUser, caps: Caps) -> dict[str, Any]:
    """Nodes (entities of the seed, agents) and weighted edges (relations, follows, replies, trades).
    A graph above the caps keeps its most connected nodes and heaviest edges, with `truncated: true`
    and the full sizes in `total_nodes`/`total_edges`. 404 `graph_not_ready` until it is built."""
    return await read_graph(ctx.store, await load_job(ctx, user, job_id), caps.max_nodes, caps.max_edges)


@router.get("/{job_id}/export/pdf", summary="The report as a PDF", **sends(PDF, 401, 404, 503))
async def export_pdf(job_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """The reporter's PDF (charts embedded); 404 `report_not_ready` until it is written."""
    return await pdf_download(ctx.store, await load_job(ctx, user, job_id))
