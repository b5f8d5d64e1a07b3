"""Swagger UI at /api/docs with its assets served by the gateway itself, so it works offline.

FastAPI's default page loads Swagger UI from a CDN: behind a firewall, or on a laptop without a
network, /api/docs stayed blank. The assets come from the `fastapi-offline` package (Swagger UI 5,
which renders OpenAPI 3.1) and are served from a fixed allow-list of file names.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from services.gateway.errors import ApiError

router = APIRouter(include_in_schema=False)
ASSETS_URL = "/api/docs/assets"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


def _asset_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


@router.get("/api/docs")
async def swagger_ui() -> HTMLResponse:
    """The Swagger UI page; every URL in it points at this gateway."""
    return get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="SimSwarm API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
    )


@router.get(ASSETS_URL + "/{name}")
async def swagger_asset(name: str) -> FileResponse:
    """One of Swagger UI's files (cached for a day: they change only with the package)."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"no documentation asset {name[:64]!r}")
    return FileResponse(
        _asset_dir() / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
