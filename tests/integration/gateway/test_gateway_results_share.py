"""Results in one place (the structured result, the graph, the PDF), sharing and demo jobs, and
/api/config, on the real servers: outputs made by the real reporter and graph code, in the real store."""

from __future__ import annotations

import html
import re

import msgspec
import pytest

from contracts.objects import graph_key, report_key
from contracts.results import RESULT_FILE
from services.graph.build import build_graph, decode_inputs
from services.reporter.main import decode_and_compose, render_composed
from services.reporter.result import build_result
from tests.unit.reporter.reporter_samples import GOAL, sample_files

pytestmark = pytest.mark.integration

_OUTPUTS: dict[str, bytes] = {}


def _outputs() -> dict[str, bytes]:
    """report.md, report.pdf, result.json and graph.json of the sample run, computed once."""
    if not _OUTPUTS:
        files = sample_files()
        art, report = decode_and_compose(files)
        rendered = render_composed(art, report)
        _OUTPUTS.update(
            {
                "report.md": rendered.markdown.encode(),
                "report.pdf": rendered.pdf,
                RESULT_FILE: msgspec.json.encode(build_result(art, report)),
                "graph.json": msgspec.json.encode(build_graph(decode_inputs(files))),
            }
        )
    return _OUTPUTS


async def completed_job(gw, owner: str | None = None, goal: str = GOAL, graph: bytes | None = None) -> str:
    """A completed job as the pipeline leaves it: projection row plus report, result and graph in the store."""
    out = _outputs()
    job_id = await gw.put_job(
        status="completed",
        stage="completed",
        goal=goal,
        owner_id=owner or gw.alice,
        verdict="Leans YES",
        report_key="pending",
        graph_key="pending",
    )
    for name in ("report.md", "report.pdf", RESULT_FILE):
        await gw.store.put_bytes(report_key(job_id, name), out[name])
    await gw.store.put_bytes(graph_key(job_id), graph or out["graph.json"])
    await gw.put_job(
        job_id,
        status="completed",
        stage="completed",
        goal=goal,
        owner_id=owner or gw.alice,
        verdict="Leans YES",
        report_key=report_key(job_id),
        graph_key=graph_key(job_id),
    )
    return job_id


async def test_a_completed_job_carries_its_structured_result(gw):
    job_id = await completed_job(gw)
    job = (await gw.client.get(f"/api/jobs/{job_id}", headers=gw.as_alice)).json()
    result = job["result"]
    expected = msgspec.json.decode(_outputs()[RESULT_FILE])
    assert result == expected
    assert result["verdict"] and result["key_insight"] and result["findings"][0]["citations"]
    assert {"agents", "rounds", "horizon_days", "coalitions", "market_stress"} <= set(result["scale"])
    assert result["stakeholders"] and {"name", "final_position", "stance"} <= set(result["stakeholders"][0])
    # before completion there is no result
    live = await gw.put_job(status="running", stage="running")
    assert (await gw.client.get(f"/api/jobs/{live}", headers=gw.as_alice)).json()["result"] is None


async def test_graph_and_pdf_of_a_completed_job(gw):
    job_id = await completed_job(gw)
    r = await gw.client.get(f"/api/jobs/{job_id}/graph", headers=gw.as_alice)
    assert r.status_code == 200, r.text
    graph = r.json()
    doc = msgspec.json.decode(_outputs()["graph.json"])
    assert graph["truncated"] is False and graph["total_nodes"] == len(doc["nodes"]) == len(graph["nodes"])
    assert {n["kind"] for n in graph["nodes"]} == {"entity", "agent"}
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])

    r = await gw.client.get(f"/api/jobs/{job_id}/export/pdf", headers=gw.as_alice)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content == _outputs()["report.pdf"] and r.content.startswith(b"%PDF-")
    assert f"simswarm-{job_id}.pdf" in r.headers["content-disposition"]

    running = await gw.put_job(status="running", stage="running")
    r = await gw.client.get(f"/api/jobs/{running}/graph", headers=gw.as_alice)
    assert r.status_code == 404 and r.json()["code"] == "graph_not_ready"
    r = await gw.client.get(f"/api/jobs/{running}/export/pdf", headers=gw.as_alice)
    assert r.status_code == 404 and r.json()["code"] == "report_not_ready"
    for path in ("graph", "export/pdf"):
        r = await gw.client.get(f"/api/jobs/{job_id}/{path}", headers=gw.as_bob)
        assert r.status_code == 404 and r.json()["code"] == "job_not_found"
    r = await gw.client.get(f"/api/jobs/{job_id}/graph?max_nodes=0", headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["detail"].startswith("max_nodes:")


async def test_a_large_graph_is_capped_and_says_so(gw):
    hub = {"id": "entity:hub", "label": "Hub", "kind": "entity", "props": {}}
    agents = [{"id": f"agent:a{i:05d}", "label": f"A{i}", "kind": "agent", "props": {}} for i in range(3000)]
    edges = [
        {"source": a["id"], "target": "entity:hub", "type": "SUPPORTS", "weight": 1.0 + (i % 7)}
        for i, a in enumerate(agents)
    ]
    edges += [
        {"source": agents[i]["id"], "target": agents[i + 1]["id"], "type": "FOLLOWS", "weight": 1.0}
        for i in range(2999)
    ]
    big = msgspec.json.encode(
        {"job_id": None, "nodes": [hub, *agents], "edges": edges, "counts": {"nodes": 3001}}
    )
    job_id = await completed_job(gw, graph=big)
    graph = (
        await gw.client.get(f"/api/jobs/{job_id}/graph?max_nodes=500&max_edges=800", headers=gw.as_alice)
    ).json()
    assert graph["truncated"] is True and graph["total_nodes"] == 3001 and graph["total_edges"] == len(edges)
    assert len(graph["nodes"]) == 500 and len(graph["edges"]) <= 800
    ids = {n["id"] for n in graph["nodes"]}
    assert "entity:hub" in ids  # the most connected node is kept
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    default = (await gw.client.get(f"/api/jobs/{job_id}/graph", headers=gw.as_alice)).json()
    assert default["truncated"] is True and len(default["nodes"]) == 1000


async def test_share_a_completed_job_read_it_publicly_and_revoke_it(gw):
    job_id = await completed_job(gw, goal='Will "<script>alert(1)</script>" & co pass?')
    running = await gw.put_job(status="running", stage="running")
    r = await gw.client.post(f"/api/jobs/{running}/share", headers=gw.as_alice)
    assert r.status_code == 409 and r.json()["code"] == "job_not_completed"
    r = await gw.client.post(f"/api/jobs/{job_id}/share", headers=gw.as_bob)
    assert r.status_code == 404 and r.json()["code"] == "job_not_found"

    r = await gw.client.post(f"/api/jobs/{job_id}/share", headers=gw.as_alice)
    assert r.status_code == 201, r.text
    share = r.json()
    token = share["share_token"]
    assert re.fullmatch(r"shr_[A-Za-z0-9_-]{43}", token) and share["share_url"].endswith(f"/share/{token}")
    stored = await gw.pool.fetch(f"SELECT hash FROM {gw.app.state.ctx.jobs.g}.shares")
    assert [s["hash"] for s in stored] != [token] and all(token not in s["hash"] for s in stored)

    public = await gw.client.get(f"/api/share/{token}")  # no credentials
    assert public.status_code == 200, public.text
    body = public.json()
    assert (
        body["job_id"] == job_id
        and body["result"]["verdict"]
        and "owner_id" not in body
        and "pod" not in body
    )
    graph = await gw.client.get(f"/api/share/{token}/graph")
    assert graph.status_code == 200 and graph.json()["nodes"]
    pdf = await gw.client.get(f"/api/share/{token}/export/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    og = await gw.client.get(f"/api/share/{token}/og")
    assert og.status_code == 200 and og.headers["content-type"].startswith("text/html")
    assert "<script>" not in og.text and html.escape('"<script>alert(1)</script>"', quote=True) in og.text
    assert 'property="og:title"' in og.text and 'property="og:description"' in og.text

    assert (await gw.client.delete(f"/api/jobs/{job_id}/share", headers=gw.as_bob)).status_code == 404
    assert (await gw.client.delete(f"/api/jobs/{job_id}/share", headers=gw.as_alice)).status_code == 204
    for path in ("", "/graph", "/og", "/export/pdf"):
        r = await gw.client.get(f"/api/share/{token}{path}")
        assert r.status_code == 404 and r.json()["code"] == "share_not_found", path


async def test_unknown_and_malformed_share_tokens_answer_alike(gw):
    for token in ("shr_" + "A" * 43, "nope", "demo_0123", "shr_%00x", "x" * 300):
        r = await gw.client.get(f"/api/share/{token}")
        assert r.status_code == 404 and r.json()["code"] == "share_not_found", token


async def test_a_deleted_job_is_no_longer_shared(gw):
    job_id = await completed_job(gw)
    token = (await gw.client.post(f"/api/jobs/{job_id}/share", headers=gw.as_alice)).json()["share_token"]
    assert (await gw.client.get(f"/api/share/{token}")).status_code == 200
    assert (await gw.client.delete(f"/api/jobs/{job_id}", headers=gw.as_alice)).status_code == 204
    assert (await gw.client.get(f"/api/share/{token}")).status_code == 404


async def test_demo_jobs_are_listed_and_public(gw):
    demo = await completed_job(gw, goal="Demo: will the bill pass?")
    unfinished = await gw.put_job(status="running", stage="running")
    settings = gw.app.state.ctx.settings
    settings.demo_jobs = f"{demo}, {unfinished}, not a job id!"
    try:
        demos = (await gw.client.get("/api/share/demos")).json()["demos"]
        assert [d["job_id"] for d in demos] == [demo]
        token = demos[0]["share_token"]
        assert demos[0]["result"]["verdict"] and demos[0]["goal"] == "Demo: will the bill pass?"
        assert (await gw.client.get(f"/api/share/{token}")).json()["job_id"] == demo
        assert (await gw.client.get(f"/api/share/demo_{unfinished}")).status_code == 404
        other = await completed_job(gw)  # completed, but not a demo job
        assert (await gw.client.get(f"/api/share/demo_{other}")).status_code == 404
    finally:
        settings.demo_jobs = ""


async def test_config_reports_demo_mode_tiers_limits_and_runnable_policies(gw):
    settings = gw.app.state.ctx.settings
    cfg = (await gw.client.get("/api/config")).json()
    assert cfg["demo_mode"] is False and cfg["registration"] is True
    assert set(cfg["tiers"]) == {t.value for t in settings.tiers}
    small = cfg["tiers"]["small"]
    assert small["max_agents"] == settings.tiers[next(iter(settings.tiers))].max_agents
    assert cfg["limits"]["seed_max_chars"] == 50_000 and cfg["limits"]["rate_limits"]["login_ip"]
    assert cfg["policies"] == ["heuristic"]  # no model server in these tests
    settings.llm_url, settings.demo_mode = "http://127.0.0.1:9/v1", True
    try:
        cfg = (await gw.client.get("/api/config")).json()
        assert (
            cfg["policies"] == ["heuristic", "llm"]
            and cfg["demo_mode"] is True
            and cfg["job_creation"] is False
        )
    finally:
        settings.llm_url, settings.demo_mode = None, False


async def test_public_routes_are_rate_limited_per_address(gw):
    settings = gw.app.state.ctx.settings
    settings.rate_limits = "share_ip=3/3600"
    try:
        codes = [(await gw.client.get("/api/share/shr_" + "B" * 43)).status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        r = await gw.client.get("/api/config")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        settings.rate_limits = ""


async def test_live_share_links_per_job_are_capped(gw):
    job_id = await completed_job(gw)
    for _ in range(20):
        assert (await gw.client.post(f"/api/jobs/{job_id}/share", headers=gw.as_alice)).status_code == 201
    r = await gw.client.post(f"/api/jobs/{job_id}/share", headers=gw.as_alice)
    assert r.status_code == 409 and r.json()["code"] == "too_many_shares"
    assert (await gw.client.delete(f"/api/jobs/{job_id}/share", headers=gw.as_alice)).status_code == 204
    assert (await gw.client.post(f"/api/jobs/{job_id}/share", headers=gw.as_alice)).status_code == 201
