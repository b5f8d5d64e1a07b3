"""The web app in a real browser (Chromium driven by Playwright) against the whole platform.

register -> wizard with a seed file -> submit -> the live page shows rounds arriving over SSE ->
results render (summary, report, market chart, graph) -> a share link opens logged out -> revoke ->
the link is gone; cancel from the live page; a validation error shown on the field it names; API keys.

Chromium comes from the Debian package (`apt-get install -y chromium`, which .ci/run does), never
from `playwright install`. Set SIMSWARM_SCREENSHOTS=docs/screenshots to write the pages' screenshots
there (what the docs show).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.gateway.webapp import bundle_present

pytestmark = pytest.mark.e2e

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM = os.environ.get("SIMSWARM_CHROMIUM") or next((p for p in CHROMIUM_PATHS if Path(p).exists()), None)
SEED = """# Riverside congestion charge

The city council of Riverside debates a congestion charge for the old town. The mayor, Ana Ortiz,
backs the charge and says it would cut traffic by a fifth. The Retail Association opposes it and
warns that shops would lose customers. Clean Air Now, a residents' group, campaigns for the charge.
The Metro Institute published a study finding that similar charges elsewhere cut pollution by 15%.
The council's finance committee will vote in March; the full council votes in April.
"""
LIVE = 180_000  # ms: a run on a shared two-core machine, including the pod's start
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


def _skip_reason() -> str | None:
    if CHROMIUM is None:
        return "Chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)"
    if not bundle_present():
        return "the web app is not built (cd web && npm ci && npm run build)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed: pip install -e '.[test]'"
    return None


if (_reason := _skip_reason()) is not None:
    pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=_reason)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get("SIMSWARM_SCREENSHOTS")
    out = Path(target) if target else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _register(browser: Any, base: str, shots: Path | None = None, width: int = 1280) -> tuple[Any, Any]:
    ctx = browser.new_context(viewport={"width": width, "height": 900}, base_url=base)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto("/register")
    page.get_by_label("E-mail").fill(f"analyst-{uuid.uuid4().hex[:10]}@example.org")
    page.get_by_label("Password").fill("a long enough password")
    if shots:
        page.screenshot(path=str(shots / "register.png"))
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/jobs$"))
    return ctx, page


def _api(page: Any, method: str, path: str, body: Any = None) -> Any:
    """A call with the page's own session (what the app would send)."""
    return page.evaluate(
        """async ([method, path, body]) => {
             const r = await fetch(path, {method, headers: {'Content-Type': 'application/json',
               Authorization: 'Bearer ' + localStorage.getItem('simswarm.token')},
               body: body === null ? undefined : JSON.stringify(body)});
             return {status: r.status, body: await r.json().catch(() => null)};
           }""",
        [method, path, body],
    )


def assert_accessible(page: Any, what: str) -> None:
    """axe-core (a devDependency of web/) finds no serious or critical WCAG 2 A/AA violation."""
    if not AXE.is_file():
        return  # web/node_modules absent: the app was built elsewhere; the other checks still run
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`)""")
    assert not found, f"{what}: {found}"


def test_register_wizard_live_results_share_and_revoke(platform, browser, shots, tmp_path):
    base = platform.api_url
    landing = browser.new_page(viewport={"width": 1280, "height": 800})
    landing.goto(base + "/")
    landing.get_by_role("heading", name=re.compile("Swarm simulations")).wait_for()
    landing.screenshot(path=str(shots / "landing.png"))
    landing.close()

    ctx, page = _register(browser, base, shots)
    seed_file = tmp_path / "riverside.md"
    seed_file.write_text(SEED, encoding="utf-8")
    page.get_by_role("link", name="New simulation").first.click()
    page.wait_for_url(re.compile(r"/new"))
    page.locator("#f-seed_file").set_input_files(str(seed_file))
    page.get_by_text("Read riverside.md").wait_for()
    assert "Riverside congestion charge" in page.locator("#f-seed_text").input_value()
    page.locator("#f-goal").fill("Will the Riverside council approve the congestion charge by April?")
    page.get_by_role("button", name="Add a market").click()
    page.locator("#f-markets-0-question").fill("Will the finance committee back the charge in March?")
    page.locator("#f-agents").fill("40")
    page.locator("#f-rounds").fill("12")
    page.get_by_text(re.compile("Draft saved")).wait_for()  # saved as you type
    page.screenshot(path=str(shots / "wizard.png"), full_page=True)
    assert_accessible(page, "wizard")
    tickets: list[str] = []
    page.on("request", lambda r: tickets.append(r.url) if "/stream?ticket=" in r.url else None)
    page.get_by_role("button", name="Start the simulation").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[-1]

    # The live page: rounds arrive over SSE (an EventSource opened with a stream ticket).
    page.wait_for_function(
        "() => /Round [1-9]/.test(document.querySelector('[data-round]')?.textContent ?? '')", timeout=LIVE
    )
    assert any(f"/api/jobs/{job_id}/stream?ticket=sts_{job_id}_" in u for u in tickets), tickets
    page.locator("[data-chart] canvas").first.wait_for()
    page.screenshot(path=str(shots / "live.png"), full_page=True)

    # Results: the page turns into the results once JobCompleted arrives on the stream.
    page.locator("[data-verdict]").wait_for(timeout=LIVE)
    page.screenshot(path=str(shots / "results-summary.png"), full_page=True)
    assert_accessible(page, "results")
    page.get_by_role("tab", name="Report").click()
    page.locator(".report h1, .report h2").first.wait_for()
    page.screenshot(path=str(shots / "results-report.png"), full_page=True)
    page.get_by_role("tab", name="Markets").click()
    page.locator("[data-chart] canvas").first.wait_for()
    page.screenshot(path=str(shots / "results-markets.png"), full_page=True)
    page.get_by_role("tab", name="Beliefs").click()
    page.locator("[data-chart] canvas").first.wait_for()
    page.get_by_role("tab", name="Graph").click()
    page.locator("[data-graph] canvas").first.wait_for()
    page.wait_for_function("() => (window.__graph?.nodes ?? 0) > 0")
    page.screenshot(path=str(shots / "results-graph.png"), full_page=True)
    page.get_by_role("tab", name="Posts").click()
    page.locator("article.post").first.wait_for()
    page.get_by_label("Search").fill("charge")
    page.screenshot(path=str(shots / "results-posts.png"), full_page=True)
    page.get_by_role("tab", name="Claims & stakeholders").click()
    page.get_by_role("heading", name="Stakeholders").wait_for()
    page.get_by_role("tab", name="Data").click()
    page.get_by_role("link", name="posts.json", exact=True).wait_for()
    assert re.search(r"[0-9a-f]{64}", page.locator("td.mono").first.inner_text())

    # Share: a public read-only page, logged out; revoke; the link is gone.
    page.get_by_role("tab", name="Summary").click()
    page.get_by_role("button", name="Create a public read-only link").click()
    link = page.locator("[data-share-link]").input_value()
    assert re.search(r"/share/shr_[\w-]+$", link), link
    public = browser.new_context(viewport={"width": 390, "height": 844})  # a phone, no session
    shared = public.new_page()
    shared.goto(link)
    shared.locator("[data-verdict]").wait_for()
    assert shared.get_by_role("button", name="Create a public read-only link").count() == 0
    assert shared.evaluate("localStorage.getItem('simswarm.token')") is None
    shared.screenshot(path=str(shots / "share-phone.png"), full_page=True)
    assert shared.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        "wider than a phone"
    )
    page.get_by_role("button", name="Revoke link").click()
    page.get_by_text("The link is revoked").wait_for()
    shared.reload()
    shared.locator("[data-share-gone]").wait_for()
    public.close()

    page.goto(base + "/jobs")
    page.locator(f"[data-job='{job_id}'] .badge", has_text="completed").wait_for()
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert_accessible(page, "dashboard")
    page.get_by_role("link", name="Will the Riverside council").first.click()
    page.get_by_role("tab", name="Timeline").click()
    page.get_by_text(re.compile(r"#\d+ JobCompleted")).click()  # the event log, for a post-mortem
    page.locator("details[open] pre", has_text='"final_prices"').wait_for()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(base + "/jobs")
    page.locator(f"[data-job='{job_id}']").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        "wider than a phone"
    )
    page.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)
    ctx.close()


def test_cancel_from_the_live_page(platform, browser, shots):
    ctx, page = _register(browser, platform.api_url)
    r = _api(
        page,
        "POST",
        "/api/jobs",
        {
            "seed_text": SEED,
            "goal": "Will the council approve the charge?",
            "policy": "heuristic",
            "agents": 1000,
            "rounds": 2000,
        },
    )  # minutes of work: it is still running when cancelled
    assert r["status"] == 201, r
    job_id = r["body"]["job_id"]
    streams: list[str] = []
    page.on("request", lambda req: streams.append(req.url) if "/stream?ticket=" in req.url else None)
    page.goto(f"/jobs/{job_id}")
    page.wait_for_function(
        "() => /Round [1-9]/.test(document.querySelector('[data-round]')?.textContent ?? '')", timeout=LIVE
    )
    # The newest posts arrive with the rounds (RunProgressed.posts), in an accessible list.
    first_post = page.get_by_role("region", name="Newest posts").get_by_role("listitem").first
    first_post.wait_for(timeout=LIVE)
    assert first_post.inner_text().strip()
    # The gateway dies mid-run: the page reconnects with a fresh ticket after the last event it saw.
    seen = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-event]')].map((e) => +e.dataset.event))"
    )
    gateway = platform.procs["gateway"].proc
    gateway.kill()
    gateway.wait()
    page.get_by_text("stream reconnecting").wait_for()
    deadline = time.monotonic() + 60
    while "gateway" not in platform.check() and time.monotonic() < deadline:
        time.sleep(0.2)
    page.get_by_text("stream open").wait_for(timeout=90_000)
    resumed = [u for u in streams if "after_seq=" in u]
    assert resumed and all(
        u.startswith(f"{platform.api_url}/api/jobs/{job_id}/stream?ticket=sts_") for u in resumed
    )
    assert int(resumed[0].rsplit("after_seq=", 1)[1]) >= seen, (resumed, seen)
    rounds = page.evaluate("() => [...document.querySelectorAll('[data-event]')].map((e) => e.dataset.event)")
    assert len(rounds) == len(set(rounds)), "an event arrived twice after the reconnect"
    shown = page.evaluate("() => [...document.querySelectorAll('[data-post]')].map((e) => e.dataset.post)")
    assert shown and len(shown) == len(set(shown)) and len(shown) <= 10, shown
    page.get_by_role("button", name="Cancel simulation").click()
    page.wait_for_function(
        "() => document.querySelector('[data-status]')?.textContent === 'cancelled'", timeout=LIVE
    )
    page.get_by_role("button", name="Retry").wait_for()
    ctx.close()


def test_a_validation_error_is_shown_on_its_field(platform, browser, shots):
    ctx, page = _register(browser, platform.api_url)
    page.goto("/new")
    page.locator("#f-seed_text").fill(SEED)
    page.locator("#f-goal").fill("Will the council approve the charge?")
    page.locator("#f-agents").fill(
        "100001"
    )  # over the most any tier allows (simswarm up lifts the caps to it)
    page.get_by_role("button", name="Start the simulation").click()
    error = page.locator("#agents-err")
    error.filter(has_text=re.compile(r"^agents: .*100,?000")).wait_for()
    assert page.locator("#f-agents").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "f-agents"
    page.screenshot(path=str(shots / "wizard-error.png"), full_page=True)
    assert re.search(r"/new(\?draft=\w+)?$", page.url)  # nothing was launched
    # Fixed, the draft saves itself; it waits on the dashboard and resumes where it was.
    page.locator("#f-agents").fill("50")
    page.get_by_text(re.compile("Draft saved")).wait_for()
    page.goto("/jobs")
    page.get_by_role("link", name="Will the council approve the charge?").click()
    page.wait_for_url(re.compile(r"/new\?draft=\w+"))
    page.get_by_text("Draft restored.").wait_for()
    assert page.locator("#f-agents").input_value() == "50"
    assert page.locator("#f-goal").input_value() == "Will the council approve the charge?"

    page.goto("/keys")
    page.get_by_label("Name").fill("notebook")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("[data-fresh-key]").input_value()
    assert key.startswith("ssk_")
    page.screenshot(path=str(shots / "keys.png"), full_page=True)
    assert_accessible(page, "keys")
    page.get_by_role("button", name="Done").click()
    assert page.locator("[data-fresh-key]").count() == 0  # shown once
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Revoke notebook").click()
    page.get_by_text("No keys yet.").wait_for()

    # The pages the account mails link to.
    page.goto("/verify-email?token=not-a-real-token")
    page.get_by_role("alert").filter(has_text=re.compile("token")).wait_for()
    page.goto("/forgot-password")
    page.get_by_label("E-mail").fill("nobody@example.org")
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("status").filter(has_text="reset link").wait_for()
    ctx.close()
