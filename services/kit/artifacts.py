"""Decoding artifact files into their contract types, a bad file named: no I/O (the report's composition and
the graph's building use it; services/kit/worker.py fetches and verifies the bytes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from contracts.artifacts import ARTIFACT_TYPES

T = TypeVar("T")


class ArtifactInvalid(ValueError):
    """An artifact that is missing, corrupt or undecodable: a permanent failure, not worth retrying."""


def decode_artifact(
    name: str, data: bytes, typ: type[T], error: type[ArtifactInvalid] = ArtifactInvalid
) -> T:
    """Decode one artifact file into its contract type; a bad file raises `error` naming it."""
    try:
        return msgspec.json.decode(data, type=typ)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise error(f"{name} is not a valid artifact: {exc}") from exc


def decode_files(
    files: Mapping[str, bytes],
    required: Mapping[str, str],
    optional: Mapping[str, str] = {},
    error: type[ArtifactInvalid] = ArtifactInvalid,
) -> dict[str, Any]:
    """Decode artifact files into their contract types (ARTIFACT_TYPES), keyed as the caller names them.

    `required` and `optional` map a key (a field of the caller's bundle) to a file name; an optional
    file is decoded when `files` has it. A missing required file, or one not of its contract's shape,
    raises `error` naming it.
    """
    missing = [name for name in required.values() if name not in files]
    if missing:
        raise error(f"missing artifact(s): {', '.join(missing)}")
    wanted = {**required, **{key: name for key, name in optional.items() if name in files}}
    return {
        key: decode_artifact(name, files[name], ARTIFACT_TYPES[name], error) for key, name in wanted.items()
    }
