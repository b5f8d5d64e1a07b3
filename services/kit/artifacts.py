"""Reading the artifacts an event names from the object store, each checked against its ArtifactRef."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from typing import TypeVar

import msgspec

from contracts.artifacts import ArtifactRef
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
