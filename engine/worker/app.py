"""The pod worker API (docs/worker-api.md): a litestar app around one RunManager.

Every route but `/health` needs `Authorization: Bearer <pod token>` (constant-time compare); `/health`
checks a token only when one is sent (the pod manager's check that this is its pod's worker).
Bodies are the structs of `contracts.worker`; a malformed body is a 400 naming the bad field.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import httpx
from litestar import Litestar, MediaType, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, HTTPException, NotAuthorizedException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, Parameter

from contracts.worker import ProgressPage, RunStatusBody, RunSubmission
from engine.worker.logbuffer import LogBuffer
from engine.worker.runs import RunConflict, RunManager, RunRecord, SimulateFn
from engine.worker.settings import WorkerSettings
from engine.worker.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

MAX_TAIL = 5000


def create_app(settings: WorkerSettings, *, simulate: SimulateFn | None = None) -> Litestar:
    """The worker app. `simulate` replaces `engine.simulate` (only tests of the protocol need it)."""
    manager = RunManager(settings, simulate)
    logs = LogBuffer(settings.log_lines, secrets=(settings.token,))
    # httpx logs every request URL at INFO: presigned URLs carry credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)

    def require_token(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        header = connection.headers.get("authorization", "")
        if handler.opt.get("public") and not header:
            return  # a probe without credentials; a token that comes along is checked
        scheme, _, supplied = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            supplied.strip().encode(), settings.token.encode()
        ):
            raise NotAuthorizedException("missing or wrong bearer token")

    def find(run_id: str) -> RunRecord:
        record = manager.runs.get(run_id)
        if record is None:
            raise NotFoundException(f"no run {run_id!r} on this pod")
        return record

    @get("/health", opt={"public": True}, media_type=MediaType.JSON)
    async def health() -> Response[dict[str, Any]]:
        """200 once the LLM endpoint answers /models (or at once without one), else 503."""
        if not settings.llm_url:
            return Response({"status": "ok", "llm": None})
        try:
            async with httpx.AsyncClient(timeout=settings.health_timeout_s) as client:
                r = await client.get(settings.llm_url.rstrip("/") + "/models")
            if r.is_success:
                return Response({"status": "ok", "llm": "ready"})
            detail = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            detail = type(exc).__name__
        return Response({"status": "starting", "llm": f"not answering: {detail}"}, status_code=503)

    @post("/runs")
    async def submit(data: JSONBody[RunSubmission]) -> Response[RunStatusBody]:
        """Start a run; idempotent on run_id; 409 while a different run is active."""
        try:
            record, created = manager.submit(data)
        except RunConflict as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except ValueError as exc:
            raise ClientException(str(exc)) from None
        status = 202 if created or not record.terminal else 200
        return Response(record.body(), status_code=status)

    @get("/runs/{run_id:str}")
    async def status(run_id: FromPath[str]) -> RunStatusBody:
        return find(run_id).body()

    @get("/runs/{run_id:str}/events")
    async def events(
        run_id: FromPath[str],
        after: int = Parameter(default=0, ge=0),
        wait: float = Parameter(default=0.0, ge=0.0),
    ) -> ProgressPage:
        """Events with seq > after; waits up to `wait` seconds (capped) for the first one."""
        record = find(run_id)
        found = await record.wait_events(after, min(wait, settings.max_wait_s))
        return ProgressPage(events=found, status=record.status)

    @get("/runs/{run_id:str}/chat")
    async def chat(
        run_id: FromPath[str], tail: int = Parameter(default=100, ge=0, le=MAX_TAIL)
    ) -> dict[str, Any]:
        """The last `tail` chat-log entries so far."""
        record = find(run_id)
        entries = list(record.chat)[-tail:] if tail else []
        return {"run_id": run_id, "status": record.status, "round": record.round, "entries": entries}

    @post("/runs/{run_id:str}/cancel", status_code=202)
    async def cancel(run_id: FromPath[str]) -> RunStatusBody:
        record = find(run_id)
        manager.cancel(record)
        return record.body()

    @get("/logs")
    async def get_logs(tail: int = Parameter(default=200, ge=0, le=MAX_TAIL)) -> dict[str, Any]:
        return {"lines": logs.tail(tail)}

    async def on_startup() -> None:
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger().addHandler(logs)
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)

    async def on_shutdown() -> None:
        await manager.aclose()
        logging.getLogger().removeHandler(logs)

    app = Litestar(
        route_handlers=[health, submit, status, events, chat, cancel, get_logs],
        guards=[require_token],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown, shutdown_tracing],
        openapi_config=None,
        plugins=setup_tracing(),  # empty unless OTEL_* asks for tracing (engine/worker/telemetry.py)
    )
    app.state.manager = manager
    return app
