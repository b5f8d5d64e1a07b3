"""Request body limits enforced before any route parses a byte: size while reading, then JSON depth.

Without them a 100 MB body to `/api/auth/login` was read whole (~270 MiB of gateway memory) before
pydantic refused it, and a deeply nested array made the JSON decoder recurse until it failed.
The middleware refuses a declared `Content-Length` over the limit without reading the body, counts
the bytes of a streamed (chunked) body as they arrive and stops at the limit, and checks nesting
depth before handing the buffered body on. Limits are listed in docs/api.md ("Limits").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from services.gateway.errors import error_json
from services.gateway.spec_input import MAX_BODY_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_BODY_LIMIT = 64 * 1024
"""Every route but job creation: credentials, key names and the like fit many times over."""

JOB_BODY_LIMIT = MAX_BODY_BYTES
"""Routes under /api/jobs carry a job spec: a 50,000-character seed, fully escaped, fits."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays accepted; a job spec needs 3."""

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def body_limit(path: str) -> int:
    """The body limit of a request path."""
    return JOB_BODY_LIMIT if path == "/api/jobs" or path.startswith("/api/jobs/") else DEFAULT_BODY_LIMIT


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests objects/arrays deeper than `limit` (brackets in strings ignored).

    Stops at the first level past the limit, so a megabyte of `[` costs no more than a short one.
    """
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub(b"", body)):
        if m.group() in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _too_large(limit: int) -> Any:
    return error_json(
        413, "body_too_large", f"body: is larger than the limit of {limit:,} bytes for this route"
    )


class BodyLimitMiddleware:
    """Pure ASGI middleware: buffer the body up to the route's limit, refuse beyond it, check depth."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await error_json(400, "invalid_content_length", "Content-Length: must be a number")(
                    scope, receive, send
                )
                return
            if int(declared) > limit:
                await _too_large(limit)(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before sending it all
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").lower()
        if body and (not content_type or b"json" in content_type) and json_depth_exceeds(body):
            await error_json(
                422, "json_too_deep", f"body: JSON is nested more than {MAX_JSON_DEPTH} levels deep"
            )(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: disconnects, for streaming responses

        await self.app(scope, replay, send)
