"""The gateway's composition root: `create_app(settings)` wires the bus, object store and database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from contracts.results import JobResult
from contracts.spec import DraftSpec, JobSpec
from services.gateway.accounts import Accounts
from services.gateway.context import GatewayContext
from services.gateway.errors import ErrorBody, install_error_handlers
from services.gateway.jobs_store import JobsStore
from services.gateway.limits import BodyLimitMiddleware
from services.gateway.mailer import check_smtp_url
from services.gateway.metrics import Metrics, MetricsMiddleware
from services.gateway.ratelimit import RateLimiter, parse_limits, parse_trusted_proxies
from services.gateway.routes import (
    account_mail,
    auth,
    config,
    docs,
    drafts,
    health,
    helpers,
    job_data,
    jobs,
    results,
    share,
    stream,
    webapp_api,
)
from services.gateway.schema import check_ident, ensure_schema
from services.gateway.webapp import install_webapp
from services.kit.settings import Settings
from services.kit.telemetry import tracing_enabled

log = logging.getLogger(__name__)
API_VERSION = "1.0.0"
# How long a stopping gateway waits for mails still being sent after their answers.
BACKGROUND_GRACE_S = 10.0


def create_app(
    settings: Settings,
    *,
    bus: Any = None,
    store: Any = None,
    pool: Any = None,
    gateway_schema: str = "gateway",
    projection_schema: str = "projections",
    sse_ping_s: float = 15.0,
) -> FastAPI:
    """The FastAPI app. Parts not injected are connected in the lifespan and closed after it.

    `gateway_schema`/`projection_schema` let tests isolate themselves in one shared database.
    """
    check_ident(gateway_schema)
    check_ident(projection_schema)
    parse_limits(settings.rate_limits)  # a bad setting stops the start, naming the entry
    check_smtp_url(settings.smtp_url)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        closers: list[Callable[[], Awaitable[Any]]] = []
        try:
            the_pool = pool
            if the_pool is None:
                from services.kit.db import create_pool

                the_pool = await create_pool(settings.database_url)
                closers.append(the_pool.close)
            the_bus = bus
            if the_bus is None:
                from services.kit.bus import Bus

                the_bus = await Bus.connect(
                    settings.nats_url, name="gateway", login=settings.nats_login("gateway")
                )
                closers.append(the_bus.close)
                await the_bus.ensure_streams(settings.stream_replicas)
            the_store = store
            if the_store is None:
                from services.kit.objectstore import ObjectStore

                the_store = ObjectStore(settings)
                closers.append(the_store.close)
                try:
                    await the_store.ensure_bucket()
                except Exception as exc:  # not fatal: /api/ready reports it until the store is back
                    log.warning("object store not reachable at start-up: %s", exc)
            await ensure_schema(the_pool, gateway_schema)
            app.state.ctx = GatewayContext(
                settings=settings,
                bus=the_bus,
                store=the_store,
                pool=the_pool,
                accounts=Accounts(the_pool, gateway_schema),
                jobs=JobsStore(the_pool, gateway_schema=gateway_schema, projection_schema=projection_schema),
                metrics=metrics,
                limiter=RateLimiter(the_pool, gateway_schema, settings),
                sse_ping_s=sse_ping_s,
            )
            yield
        finally:
            ctx: GatewayContext | None = getattr(app.state, "ctx", None)
            if ctx is not None:  # mails after answers go out before the connections close
                await ctx.finish_background(BACKGROUND_GRACE_S)
            app.state.ctx = None
            for close in reversed(closers):
                try:
                    await close()
                except Exception:
                    log.warning("closing a connection failed", exc_info=True)

    app = FastAPI(
        title="SimSwarm API",
        version=API_VERSION,
        description='Swarm simulations as a service. Errors are `{"detail", "code"}`.',
        lifespan=lifespan,
        docs_url=None,  # served by routes/docs.py with local assets (no CDN)
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)  # inside metrics, so 413s are counted too
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if trusted_proxies := parse_trusted_proxies(settings.trusted_proxies):
        # Outermost: the client address is the proxy's claim before anything reads it.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies)
    # drafts before jobs: `/api/jobs/draft` must not be read as the job id `draft`.
    for module in (
        health,
        config,
        auth,
        account_mail,
        drafts,
        jobs,
        job_data,
        results,
        share,
        stream,
        webapp_api,
        helpers,
        docs,
    ):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_webapp(app)  # the web app at `/`, only where no route matched (services/gateway/webapp.py)
    if tracing_enabled():
        # A SERVER span per request, joining a caller's `traceparent`; POST /api/jobs starts a job's
        # trace. No span per ASGI send/receive: an SSE stream would make one per event.
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])
    return app


_RETRY_AFTER = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
# Headers that errors carry: every 429 says when to retry; a 503 does when the outage is passing
# (not e.g. `llm_not_configured`); a 401 for a missing or bad bearer token has the challenge.
_ERROR_HEADERS: dict[str, dict[str, Any]] = {
    "429": {"Retry-After": {**_RETRY_AFTER, "required": True}},
    "503": {"Retry-After": _RETRY_AFTER},
    "401": {
        "WWW-Authenticate": {
            "description": "`Bearer` when the bearer token is missing or invalid",
            "schema": {"type": "string", "pattern": "^Bearer"},
        }
    },
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the msgspec schemas of the bodies parsed by hand (the job spec)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _, components = msgspec.json.schema_components(
        [JobSpec, DraftSpec, JobResult], ref_template="#/components/schemas/{name}"
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
    # The result is the reporter's msgspec contract (contracts.results), not a second pydantic copy.
    for model in ("Job", "SharedJob", "DemoJob"):
        if "result" in (props := schemas.get(model, {}).get("properties", {})):
            props["result"] = {
                "anyOf": [{"$ref": "#/components/schemas/JobResult"}, {"type": "null"}],
                "description": props["result"].get("description", ""),
            }
    if "spec" in (draft := schemas.get("Draft", {}).get("properties", {})):
        draft["spec"] = {"$ref": "#/components/schemas/DraftSpec"}
    # Validation errors leave through our handler as ErrorBody, not FastAPI's default shape.
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            responses = op.get("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "Invalid input; `detail` names the field",
                    "content": error_ref,
                }
            responses.setdefault("500", {"description": "Internal error", "content": error_ref})
            # Every route sits behind the body limits (services/gateway/limits.py).
            responses.setdefault(
                "413", {"description": "Request body too large (`body_too_large`)", "content": error_ref}
            )
            if "requestBody" in op:
                responses.setdefault(
                    "422", {"description": "Invalid input; `detail` names the field", "content": error_ref}
                )
                # A body that is not JSON text: `invalid_json` (services/gateway/errors.py).
                responses.setdefault(
                    "400",
                    {"description": "The body is not valid JSON (`invalid_json`)", "content": error_ref},
                )
            for status, resp in responses.items():
                # Routes with a non-JSON response class (markdown, SSE, metrics) still fail in JSON.
                if status[0] in "45" and "application/json" not in resp.get("content", {}):
                    resp["content"] = error_ref
                if header := _ERROR_HEADERS.get(status):
                    resp.setdefault("headers", {}).update(header)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = doc
    return doc
