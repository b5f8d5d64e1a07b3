"""OpenAPI `responses=` for the routes that answer with something other than a JSON model.

A file (a PDF, the markdown report, an artifact as stored, an HTML page), a stream, or 204 No
Content: each is documented the same way, with the route's error statuses from `error_responses`.
"""

from __future__ import annotations

from typing import Any

from services.gateway.errors import error_responses

Responses = dict[int | str, dict[str, Any]]

TEXT: dict[str, Any] = {"type": "string"}
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
ANY_JSON: dict[str, Any] = {}  # a stored file passed through as it is: no schema promised


def body_responses(media_type: str, schema: dict[str, Any], description: str, *errors: int) -> Responses:
    """A 200 whose body is `media_type` described by `schema`, and the error statuses `errors`."""
    return {
        200: {"content": {media_type: {"schema": schema}}, "description": description},
        **error_responses(*errors),
    }


def no_content_responses(description: str, *errors: int) -> Responses:
    """A 204 (what it did, in `description`), and the error statuses `errors`."""
    return {204: {"description": description}, **error_responses(*errors)}
