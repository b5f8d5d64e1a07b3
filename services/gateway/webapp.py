"""The web app (web/, built by Vite into services/gateway/webapp/) served by the gateway at `/`.

Same origin as the API, so no CORS set-up. It is installed as the router's *default* handler, the
one Starlette calls only when no route matched at all: `/api/...` keeps its JSON 404 and its 405s
exactly as before, and only GET/HEAD of a path outside `/api` reaches it. A file of the bundle is
sent as is (hashed assets cached for a year); any other path is the single-page app's `index.html`
(its router draws the page). Without a bundle (an install on a machine without node) a short page
says how to build it; the API works either way.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

WEBAPP_DIR = Path(__file__).resolve().parent / "webapp"
_API_PREFIXES = ("/api/", "/metrics")
_IMMUTABLE = "public, max-age=31536000, immutable"

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SimSwarm: web app not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
code,pre{background:#f2f2f2;border-radius:4px;padding:.1rem .3rem}pre{padding:.8rem;overflow:auto}</style>
</head><body><main>
<h1>SimSwarm is running; its web app is not built</h1>
<p>The API works: <a href="/api/docs">/api/docs</a>. The web app is built from <code>web/</code> with
Node.js 18 or newer and npm, which this installation did not find. Install them, then either reinstall
(<code>pip install -e .</code> builds it) or build it in place:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>and reload this page. A wheel of SimSwarm carries the built app, so its users need no Node.js.</p>
</main></body></html>
"""


def bundle_present(root: Path = WEBAPP_DIR) -> bool:
    """Whether the built app is installed (what `simswarm up` and the gateway check)."""
    return (root / "index.html").is_file()


def _file_in(root: Path, path: str) -> Path | None:
    """The bundle file a URL path names, never one outside the bundle (no `..`, no symlink escape)."""
    rel = path.lstrip("/")
    if not rel:
        return None
    try:
        candidate = (root / rel).resolve()
    except (OSError, ValueError):
        return None
    if candidate.is_file() and candidate.is_relative_to(root.resolve()):
        return candidate
    return None


def og_tags(title: str, description: str, url: str) -> str:
    """OpenGraph and Twitter card tags for a page's head; every value HTML-escaped."""
    t, d, u = (html.escape(v, quote=True) for v in (title, description, url))
    return (
        f'<meta property="og:type" content="article"><meta property="og:site_name" content="SimSwarm">'
        f'<meta property="og:title" content="{t}"><meta property="og:description" content="{d}">'
        f'<meta property="og:url" content="{u}"><meta name="twitter:card" content="summary">'
        f'<meta name="twitter:title" content="{t}"><meta name="twitter:description" content="{d}">'
    )


class WebAppFallback:
    """ASGI app used as the router's default: the SPA for GET/HEAD outside /api, else the usual 404."""

    def __init__(self, not_found: ASGIApp, root: Path = WEBAPP_DIR) -> None:
        self.not_found = not_found
        self.root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or path == "/api"
            or path.startswith(_API_PREFIXES)
        ):
            await self.not_found(scope, receive, send)
            return
        response = self.response_for(Request(scope).url.path)
        await response(scope, receive, send)

    @property
    def index(self) -> Path | None:
        """The bundle's index.html, when the app is built."""
        return self.root / "index.html" if bundle_present(self.root) else None

    def response_for(self, path: str) -> Response:
        if not bundle_present(self.root):
            return HTMLResponse(NOT_BUILT_PAGE, status_code=200, headers={"Cache-Control": "no-store"})
        found = _file_in(self.root, path)
        if found is not None and found.name != "index.html":
            cache = _IMMUTABLE if path.startswith("/assets/") else "public, max-age=300"
            return FileResponse(found, headers={"Cache-Control": cache})
        if path.startswith("/assets/"):  # a missing hashed asset is a 404, not the page
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(self.root / "index.html", headers={"Cache-Control": "no-cache"})


def install_webapp(app: object, root: Path = WEBAPP_DIR) -> None:
    """Serve the web app from `root` behind every route of `app` (a FastAPI/Starlette app)."""
    router = app.router  # type: ignore[attr-defined]
    router.default = WebAppFallback(router.not_found, root)
