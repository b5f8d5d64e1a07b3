"""The web app served by the gateway (SPA fallback next to an untouched API), the stream tickets that
let a browser's EventSource open a job's SSE stream, and artifacts read through the gateway."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from contracts.events import JobCompleted, JobCreated, RunProgressed, new_event
from contracts.spec import JobSpec, resolve_run
from services.gateway.webapp import NOT_BUILT_PAGE, install_webapp

pytestmark = pytest.mark.integration


def _bundle(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(
        "<!doctype html><html><head><title>app</title></head><body><div id=app></div></body></html>"
    )
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    (root.parent / "secret.txt").write_text("not part of the bundle")
    return root


async def test_the_app_is_served_at_root_with_spa_fallback_and_the_api_is_untouched(gw, tmp_path):
    install_webapp(gw.app, _bundle(tmp_path / "webapp"))
    c = gw.client
    for path in ("/", "/jobs", "/jobs/0123abc", "/share/shr_x", "/new?draft=1"):
        r = await c.get(path)
        assert r.status_code == 200 and "<div id=app>" in r.text, path
        assert r.headers["cache-control"] == "no-cache" and r.headers["content-type"].startswith("text/html")
    r = await c.get("/assets/index-abc123.js")
    assert (
        r.status_code == 200 and r.text == "console.log('app')" and "immutable" in r.headers["cache-control"]
    )
    assert (await c.get("/favicon.svg")).text == "<svg/>"
    assert (await c.get("/assets/gone-999.js")).status_code == 404  # a stale asset is not the page
    for raw in ("/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"):
        assert "not part of the bundle" not in (await c.get(raw)).text, raw
    # The API keeps its JSON errors: unknown paths, wrong methods, HEAD/POST outside /api.
    r = await c.get("/api/no-such-route")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await c.get("/api")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert (await c.post("/jobs")).status_code in (404, 405)
    assert (await c.get("/api/health")).json() == {"status": "ok"}
    assert (await c.get("/api/openapi.json")).json()["openapi"]
    assert (await c.head("/jobs")).status_code == 200


async def test_without_a_bundle_the_root_page_says_how_to_build_it(gw, tmp_path):
    install_webapp(gw.app, tmp_path / "empty")
    r = await gw.client.get("/jobs")
    assert r.status_code == 200 and r.text == NOT_BUILT_PAGE and "npm ci" in r.text
    assert (await gw.client.get("/api/health")).status_code == 200


async def _job_with_events(gw, status: str = "completed") -> str:
    job_id = await gw.put_job(status=status)
    spec = JobSpec(seed_text="A seed.", goal="Will it happen?")
    for ev in (
        new_event(JobCreated, job_id, owner_id=gw.alice, spec=spec, run=resolve_run(spec, 7)),
        new_event(RunProgressed, job_id, run_id=f"{job_id}-a1", round=1, rounds=1, prices={"m": 0.6}),
        new_event(JobCompleted, job_id, final_prices={"m": 0.6}, verdict="likely"),
    ):
        await gw.bus.publish(ev)
    return job_id


async def test_a_stream_ticket_opens_that_jobs_stream_and_nothing_else(gw):
    job_id = await _job_with_events(gw)
    other = await _job_with_events(gw)
    r = await gw.client.post(f"/api/jobs/{job_id}/stream-ticket", headers=gw.as_alice)
    assert r.status_code == 201 and r.json()["expires_in"] == 60
    ticket = r.json()["ticket"]
    assert ticket.startswith(f"sts_{job_id}_")

    r = await gw.client.get(f"/api/jobs/{job_id}/stream", params={"ticket": ticket})  # no Authorization
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "event: RunProgressed" in r.text and "event: JobCompleted" in r.text
    r = await gw.client.get(f"/api/jobs/{job_id}/stream", params={"ticket": ticket, "after_seq": 0})
    assert r.status_code == 200  # reusable within its minute: EventSource reconnects with the same URL

    r = await gw.client.get(f"/api/jobs/{other}/stream", params={"ticket": ticket})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/events", "/api/jobs"):
        r = await gw.client.get(path, headers=gw.auth(ticket))  # never a bearer credential
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials", path
    r = await gw.client.get(f"/api/jobs/{job_id}/stream")
    assert r.status_code == 401 and r.json()["code"] == "missing_credentials"
    r = await gw.client.post(f"/api/jobs/{job_id}/stream-ticket", headers=gw.as_bob)
    assert r.status_code == 404 and r.json()["code"] == "job_not_found"
    assert (await gw.client.post(f"/api/jobs/{job_id}/stream-ticket")).status_code == 401

    schema = gw.app.state.ctx.accounts.s
    await gw.pool.execute(
        f"UPDATE {schema}.sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1", gw.alice
    )
    r = await gw.client.get(f"/api/jobs/{job_id}/stream", params={"ticket": ticket})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    assert (
        await gw.client.get(f"/api/jobs/{job_id}", headers=gw.as_alice)
    ).status_code == 200  # the key still works


async def test_artifacts_are_read_through_the_gateway_by_their_owner_only(gw):
    job_id = uuid.uuid4().hex
    body = json.dumps([{"round": 1, "price_yes": 0.5}]).encode()
    ref = await gw.store.put_bytes(f"jobs/{job_id}/artifacts/market_curves.json", body)
    graph = await gw.store.put_bytes(f"jobs/{job_id}/graph.json", b'{"nodes": [], "edges": []}')
    await gw.put_job(
        job_id,
        status="completed",
        graph_key=graph.key,
        artifacts=[{"name": ref.name, "key": ref.key, "size": ref.size, "sha256": ref.sha256}],
    )
    r = await gw.client.get(f"/api/jobs/{job_id}/artifacts/market_curves.json", headers=gw.as_alice)
    assert r.status_code == 200 and r.content == body and r.headers["content-type"] == "application/json"
    r = await gw.client.get(f"/api/jobs/{job_id}/artifacts/graph.json", headers=gw.as_alice)
    assert r.status_code == 200 and r.json() == {"nodes": [], "edges": []}
    r = await gw.client.get(f"/api/jobs/{job_id}/artifacts/posts.json", headers=gw.as_alice)
    assert r.status_code == 404 and r.json()["code"] == "artifact_not_found"
    r = await gw.client.get(f"/api/jobs/{job_id}/artifacts/market_curves.json", headers=gw.as_bob)
    assert r.status_code == 404 and r.json()["code"] == "job_not_found"


async def test_a_share_link_reads_artifacts_and_report_and_its_page_previews(gw, tmp_path):
    install_webapp(gw.app, _bundle(tmp_path / "webapp"))
    job_id = uuid.uuid4().hex
    ref = await gw.store.put_bytes(f"jobs/{job_id}/artifacts/posts.json", b'[{"post_id": "p0"}]')
    report = await gw.store.put_bytes(f"jobs/{job_id}/report.md", b"# Report\n", content_type="text/markdown")
    await gw.put_job(
        job_id,
        status="completed",
        goal='Will "<b>it</b>" pass?',
        verdict="likely",
        report_key=report.key,
        artifacts=[{"name": ref.name, "key": ref.key, "size": ref.size, "sha256": ref.sha256}],
    )
    token = (await gw.client.post(f"/api/jobs/{job_id}/share", headers=gw.as_alice)).json()["share_token"]

    r = await gw.client.get(f"/api/share/{token}/artifacts/posts.json")  # no credentials
    assert r.status_code == 200 and r.json() == [{"post_id": "p0"}]
    r = await gw.client.get(f"/api/share/{token}/report")
    assert (
        r.status_code == 200
        and r.text == "# Report\n"
        and r.headers["content-type"].startswith("text/markdown")
    )
    page = await gw.client.get(f"/share/{token}")
    assert page.status_code == 200 and "<div id=app>" in page.text
    assert 'property="og:title" content="SimSwarm: Will &quot;&lt;b&gt;it&lt;/b&gt;&quot; pass?"' in page.text
    assert "<b>it</b>" not in page.text and f"/share/{token}" in page.text

    assert (await gw.client.delete(f"/api/jobs/{job_id}/share", headers=gw.as_alice)).status_code == 204
    for path in (f"/api/share/{token}/artifacts/posts.json", f"/api/share/{token}/report"):
        r = await gw.client.get(path)
        assert r.status_code == 404 and r.json()["code"] == "share_not_found", path
    page = await gw.client.get(f"/share/{token}")  # the app's page, which then says the link is gone
    assert page.status_code == 200 and "og:title" not in page.text and "<div id=app>" in page.text
