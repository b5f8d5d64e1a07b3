"""Constrained strings for the gateway's pydantic request models (accounts, keys, later drafts).

The same rule as the job spec's msgspec types (`contracts.text`): no control characters, a
documented maximum length, and a 422 that names the field. The pattern goes into the OpenAPI
document; validation uses `contracts.text` itself so both kinds of model give the same sentence.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from contracts.text import LINE_PATTERN, control_character_problem

EMAIL_MAX_CHARS = 320
PASSWORD_MAX_CHARS = 1024
KEY_NAME_MAX_CHARS = 100


def _check_line(value: str) -> str:
    if (problem := control_character_problem(value, multiline=False)) is not None:
        raise PydanticCustomError("control_character", problem)
    return value


def _check_text(value: str) -> str:
    if (problem := control_character_problem(value, multiline=True)) is not None:
        raise PydanticCustomError("control_character", problem)
    return value


LineCheck = AfterValidator(_check_line)
"""Add to an `Annotated[str, Field(max_length=...)]`: one line of text, no control characters."""

TextCheck = AfterValidator(_check_text)
"""Add to an `Annotated[str, Field(max_length=...)]`: free text, tab/newline/CR allowed."""

Email = Annotated[
    str, Field(max_length=EMAIL_MAX_CHARS, json_schema_extra={"pattern": LINE_PATTERN}), LineCheck
]
Password = Annotated[
    str, Field(max_length=PASSWORD_MAX_CHARS, json_schema_extra={"pattern": LINE_PATTERN}), LineCheck
]
KeyName = Annotated[
    str,
    Field(min_length=1, max_length=KEY_NAME_MAX_CHARS, json_schema_extra={"pattern": LINE_PATTERN}),
    LineCheck,
]
