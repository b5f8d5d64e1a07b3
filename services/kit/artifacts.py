"""Reading the artifacts an event names from the object store, each checked against its ArtifactRef."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from contracts.artifacts import ARTIFACT_TYPES, ArtifactRef
from services.kit.objectstore import ObjectNotFound, ObjectStore

T = TypeVar("T")


class ArtifactInvalid(ValueError):
    """An artifact that is missing, corrupt or undecodable: a permanent failure, not worth retrying."""


def ref_name(ref: ArtifactRef) -> str:
    return ref.name or ref.key.rsplit("/", 1)[-1]


async def fetch_verified(
    store: ObjectStore, refs: Iterable[ArtifactRef], wanted: Iterable[str], *, concurrency: int = 4
) -> dict[str, bytes]:
    """file name -> bytes for each wanted file the refs list, each verified by size and SHA-256.

    A listed file that is absent or does not hash to its ref raises ArtifactInvalid (permanent);
    an unreachable store raises ObjectStoreUnavailable (worth retrying).
    """
    by_name = {ref_name(r): r for r in refs}
    chosen = [by_name[n] for n in wanted if n in by_name]
    sem = asyncio.Semaphore(concurrency)

    async def one(ref: ArtifactRef) -> tuple[str, bytes]:
        async with sem:
            try:
                data = await store.get_bytes(ref.key)
            except ObjectNotFound as exc:
                raise ArtifactInvalid(
                    f"{ref_name(ref)} is missing from the object store (key {ref.key})"
                ) from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref.sha256.lower():
            raise ArtifactInvalid(
                f"{ref_name(ref)} is corrupt: its SHA-256 is {digest[:16]}…, expected {ref.sha256[:16]}… "
                f"({len(data)} bytes, expected {ref.size})"
            )
        return ref_name(ref), data

    return dict(await asyncio.gather(*(one(r) for r in chosen)))


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
