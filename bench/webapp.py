"""Web app benchmark: the results page of a 10,000-agent job in Chromium. Prints figures; asserts nothing.

    python -m bench.webapp                    # 10,000 agents x 5 rounds
    python -m bench.webapp --agents 2000      # another size

Starts the whole platform (`simswarm up` in a temporary home), runs one heuristic job, then opens its
results page in the Debian Chromium (Playwright, headless) and prints: the time until the summary is
drawn, until the market chart is drawn, until the graph (all agents, WebGL via sigma.js) is drawn
(download + layout + first frame), the layout's share, and the frames per second while the graph's
camera pans and zooms for a few seconds. Headless Chromium renders WebGL in software (SwiftShader)
here, so a desktop GPU draws faster: the frame rate is a floor.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from simswarm.stack import free_port  # noqa: E402
from simswarm.supervisor import Supervisor  # noqa: E402
from tests.e2e.test_webapp_browser import CHROMIUM, SEED  # noqa: E402

COUNT_FRAMES = """() => { window.__frames = 0; window.__counting = true; const t0 = performance.now();
  const step = () => { if (!window.__counting) return; window.__frames++; requestAnimationFrame(step); };
  requestAnimationFrame(step); window.__t0 = t0; }"""
STOP_COUNTING = """() => { window.__counting = false; return window.__frames / ((performance.now() - window.__t0) / 1000); }"""
RENDERS = """() => new Promise((done) => { const r = window.__graph.renderer; let n = 0;
  r.on('afterRender', () => n++); window.__renders = () => n; done(); })"""


def drag_fps(page, seconds: float) -> tuple[float, float]:
    """Frames and graph renders per second while the mouse drags the graph around (a user panning)."""
    box = page.locator("[data-graph]").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(RENDERS)
    page.evaluate(COUNT_FRAMES)
    page.mouse.move(cx, cy)
    page.mouse.down()
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        i += 1
        page.mouse.move(cx + 150 * math.sin(i / 10), cy + 100 * math.cos(i / 10))
    page.mouse.up()
    elapsed = time.perf_counter() - t0
    fps = page.evaluate(STOP_COUNTING)
    renders = page.evaluate("() => window.__renders()") / elapsed
    return fps, renders


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fps-seconds", type=float, default=5.0)
    args = ap.parse_args()
    if CHROMIUM is None:
        sys.exit("Chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="simswarm-bench-web-"))
    sup = Supervisor(home=home, port=free_port()).start(ready_timeout=180)
    try:
        key = (home / "api-key").read_text().strip()
        with httpx.Client(
            base_url=sup.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api:
            t = time.perf_counter()
            job = api.post(
                "/api/jobs",
                json={
                    "seed_text": SEED,
                    "goal": "Will the council approve the charge?",
                    "policy": "heuristic",
                    "agents": args.agents,
                    "rounds": args.rounds,
                },
            )
            job.raise_for_status()
            job_id = job.json()["job_id"]
            while (status := api.get(f"/api/jobs/{job_id}").json()["status"]) not in (
                "completed",
                "failed",
                "cancelled",
            ):
                time.sleep(2)
            print(
                f"job {job_id}: {status} in {time.perf_counter() - t:.1f} s ({args.agents:,} agents x {args.rounds} rounds)"
            )
            graph = api.get(f"/api/jobs/{job_id}/artifacts/graph.json")
            print(f"graph.json: {len(graph.content):,} bytes")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(300_000)
            t0 = time.perf_counter()
            page.goto(f"{sup.api_url}/jobs/{job_id}#key={key}")
            page.locator("[data-verdict]").wait_for()
            summary = time.perf_counter() - t0
            t1 = time.perf_counter()
            page.get_by_role("tab", name="Markets").click()
            page.locator("[data-chart] canvas").first.wait_for()
            markets = time.perf_counter() - t1
            t2 = time.perf_counter()
            page.get_by_role("tab", name="Graph").click()
            page.wait_for_function("() => (window.__graph?.nodes ?? 0) > 0")
            graph_s = time.perf_counter() - t2
            info = page.evaluate(
                "() => ({nodes: window.__graph.nodes, edges: window.__graph.edges, "
                "layoutMs: window.__graph.layoutMs})"
            )
            fps, renders = drag_fps(page, args.fps_seconds)
            renderer = page.evaluate(
                "() => { const c = document.createElement('canvas').getContext('webgl');"
                " const d = c && c.getExtension('WEBGL_debug_renderer_info');"
                " return d ? c.getParameter(d.UNMASKED_RENDERER_WEBGL) : 'unknown'; }"
            )
            browser.close()
        print(f"results page, summary drawn:      {summary:6.2f} s (navigation, app, job, result)")
        print(f"market chart drawn:               {markets:6.2f} s")
        print(
            f"graph drawn ({info['nodes']:,} nodes, {info['edges']:,} edges): {graph_s:6.2f} s "
            f"(of which layout {info['layoutMs'] / 1000:.2f} s)"
        )
        print(
            f"while dragging the graph:         {fps:6.1f} frames/s, {renders:.1f} graph renders/s "
            f"(WebGL renderer: {renderer})"
        )
    finally:
        sup.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
