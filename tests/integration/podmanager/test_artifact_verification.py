"""Artifacts are verified where they are stored, never downloaded by the pod manager (real SeaweedFS).

The pod worker sends each artifact with Content-MD5; the store refuses bytes that do not match it and
keeps it as the object's ETag, which the pod manager checks with a HEAD (size and ETag) against what
the worker reported (docs/podmanager.md#artifact-verification).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import httpx
import pytest

from contracts.objects import artifact_key
from contracts.worker import ArtifactDigest
from engine.worker.transfer import md5_hex, put_bytes
from services.podmanager.progress import stored_problem

pytestmark = pytest.mark.integration

DATA = b'{"posts": []}'


def digest(data: bytes = DATA, **changes: Any) -> ArtifactDigest:
    fields = {"name": "posts.json", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return ArtifactDigest(**{**fields, "md5": md5_hex(data), **changes})


async def upload(store: Any, key: str, data: bytes) -> None:
    """As the pod worker uploads: its own transfer code, through a presigned PUT."""
    async with httpx.AsyncClient() as client:
        await put_bytes(
            client,
            await store.presign_put(key),
            data,
            what="posts.json",
            content_type="application/json",
            attempts=1,
            backoff_s=0.01,
        )


async def test_the_store_refuses_bytes_that_do_not_match_their_content_md5(store: Any) -> None:
    key = artifact_key(uuid.uuid4().hex, "posts.json")
    sent_for = base64.b64encode(hashlib.md5(DATA, usedforsecurity=False).digest()).decode()
    async with httpx.AsyncClient() as client:
        damaged = await client.put(
            await store.presign_put(key),
            content=DATA.replace(b"posts", b"p0sts"),
            headers={"content-md5": sent_for},
        )
    assert damaged.status_code == 400 and "BadDigest" in damaged.text
    assert await store.head(key) is None  # nothing was stored


async def test_an_uploaded_artifact_passes_its_head_check(store: Any) -> None:
    key = artifact_key(uuid.uuid4().hex, "posts.json")
    await upload(store, key, DATA)
    head = await store.head(key)
    assert stored_problem(digest(), head) is None


async def test_a_stored_object_that_is_not_the_workers_is_detected_by_its_head(store: Any) -> None:
    key = artifact_key(uuid.uuid4().hex, "posts.json")
    other = DATA.replace(b"posts", b"p0sts")  # same size, other bytes (overwritten after the upload)
    await upload(store, key, other)
    head = await store.head(key)
    assert "MD5 (ETag) differs" in (stored_problem(digest(), head) or "")
    assert "stored 13 bytes, the worker uploaded 14" in (stored_problem(digest(size=14), head) or "")
    missing = await store.head(artifact_key(uuid.uuid4().hex, "posts.json"))
    assert stored_problem(digest(), missing) == "posts.json: not in the object store"
    assert "reported no MD5" in (stored_problem(digest(md5=None), head) or "")
