"""Every error leaves the gateway as `{"detail": "...", "code": "..."}`: types, handlers, OpenAPI docs."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The body of every error response."""

    detail: str
    code: str


class ApiError(Exception):
    """An error meant for the client: status, a machine code and a human sentence."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


def unavailable(code: str, what: str, cause: BaseException | None = None) -> ApiError:
    """503 `code` for a backing service that does not answer now, with `Retry-After: 5`.

    `what` names the service in the detail ("the object store"); the cause is logged, never shown.
    """
    if cause is not None:
        log.warning("%s is unavailable: %s", what, cause)
    return ApiError(503, code, f"{what} is unavailable; retry shortly", {"Retry-After": "5"})


def event_log_unavailable(cause: BaseException) -> ApiError:
    """503 `event_log_unavailable`: the job's events cannot be read from NATS now."""
    return unavailable("event_log_unavailable", "the event log (NATS)", cause)


def object_store_unavailable(cause: BaseException) -> ApiError:
    """503 `object_store_unavailable`: an artifact or report cannot be read now."""
    return unavailable("object_store_unavailable", "the object store", cause)


_DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that is not JSON)",
    401: "Missing or invalid credentials",
    403: "Forbidden (e.g. `demo_mode`: this server is read-only)",
    404: "Not found (or owned by another user)",
    409: "Conflict with the current state",
    413: "Request body too large",
    422: "Invalid input; `detail` names the field",
    429: "Over a quota; see `Retry-After`",
    500: "Internal error",
    502: "The orchestrator answered with an error",
    503: "A backing service is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses (plus 500, which any route may give)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500}):
        out[status] = {"model": ErrorBody, "description": _DESCRIPTIONS.get(status, "Error")}
    return out


FASTAPI_BODY_ERROR = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot decode

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def error_json(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def format_validation_errors(errors: list[dict[str, Any]]) -> str:
    """FastAPI/pydantic validation errors as one sentence naming each field."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "request"
        parts.append(f"{field}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the `{"detail","code"}` shape; unknown ones are logged and hidden."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_json(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail == FASTAPI_BODY_ERROR:
            # A model-typed body that is not text (not UTF-8): the same answer as a hand-parsed body.
            code, detail = "invalid_json", "body: is not valid JSON (it must be UTF-8 text)"
        return error_json(exc.status_code, code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_json(422, "invalid_request", format_validation_errors(list(exc.errors())))

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.TooManyConnectionsError)
    @app.exception_handler(ConnectionRefusedError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return await _api_error(request, unavailable("database_unavailable", "the database"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_json(500, "internal", "internal error; the gateway logged the details")
