"""What a route answers, declared once: `@router.delete(path, summary=..., **no_content("Deleted", 401, 404))`.

Each helper returns the keyword arguments of a FastAPI route declaration (`status_code`,
`response_class`, `responses`) that say what the route answers on success, and adds the route's error
statuses from `error_responses`. The success status is written once, so `status_code=` and the
documented response cannot disagree. For a plain 200 with a JSON model a route writes
`responses={200: {"model": M}, **error_responses(...)}` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from fastapi.responses import Response

from services.gateway.errors import error_responses

Responses = dict[int | str, dict[str, Any]]

TEXT: dict[str, Any] = {"type": "string"}
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
ANY_JSON: dict[str, Any] = {}  # a stored file passed through as it is: no schema promised


class Answers(TypedDict, total=False):
    """Keyword arguments of `router.get/post/...` that declare the route's answers (type-checked)."""

    status_code: int
    response_class: type[Response]
    responses: Responses


@dataclass(frozen=True)
class Body:
    """A 200 body that is not a JSON model: a file, a page or a stream, as the document shows it."""

    media_type: str
    schema: dict[str, Any]
    description: str


PDF = Body("application/pdf", BINARY, "The report as a PDF")
MARKDOWN_REPORT = Body("text/markdown", TEXT, "The report")
STORED_FILE = Body("application/json", ANY_JSON, "The file as stored")
HTML_PAGE = Body("text/html", TEXT, "An HTML page")


def sends(body: Body, *errors: int, response_class: type[Response] = Response) -> Answers:
    """A 200 with `body`, sent as `response_class`, or one of the error statuses `errors`."""
    ok = {"content": {body.media_type: {"schema": body.schema}}, "description": body.description}
    return {"response_class": response_class, "responses": {200: ok, **error_responses(*errors)}}


def created(model: type, *errors: int) -> Answers:
    """201 Created with a `model` body, or one of the error statuses `errors`."""
    return {"status_code": 201, "responses": {201: {"model": model}, **error_responses(*errors)}}


def accepted(model: type, *errors: int) -> Answers:
    """202 Accepted with a `model` body, or one of the error statuses `errors`."""
    return {"status_code": 202, "responses": {202: {"model": model}, **error_responses(*errors)}}


def no_content(done: str, *errors: int) -> Answers:
    """204 No Content (what the route did, in `done`), or one of the error statuses `errors`."""
    return {"status_code": 204, "responses": {204: {"description": done}, **error_responses(*errors)}}
