"""The pod worker's presigned transfers against the real object store: retries, and what is final."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from contracts.objects import artifact_key
from engine.worker.transfer import NotFound, TransferError, get_bytes, put_bytes
from simswarm.stack import free_port

pytestmark = pytest.mark.integration


async def test_a_transfer_succeeds_at_once_and_reads_back(store: Any) -> None:
    key = artifact_key(uuid.uuid4().hex, "posts.json")
    async with httpx.AsyncClient() as client:
        retries = await put_bytes(
            client,
            await store.presign_put(key),
            b"[]",
            what="posts.json",
            content_type="application/json",
            attempts=3,
            backoff_s=0.01,
        )
        assert retries == 0
        assert (
            await get_bytes(
                client, await store.presign_get(key), what="posts.json", attempts=3, backoff_s=0.01
            )
            == b"[]"
        )


async def test_an_unreachable_store_is_tried_every_attempt_then_named(caplog: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/bucket/key"  # nothing listens there
    async with httpx.AsyncClient() as client:
        with pytest.raises(
            TransferError, match=r"failed after 3 attempts: object store unreachable \(ConnectError\)"
        ):
            await put_bytes(
                client,
                url,
                b"x",
                what="posts.json",
                content_type="application/json",
                attempts=3,
                backoff_s=0.01,
            )
        with pytest.raises(TransferError, match="failed after 2 attempts: object store unreachable"):
            await get_bytes(client, url, what="posts.json", attempts=2, backoff_s=0.01)
    assert [r.getMessage() for r in caplog.records if "upload of posts.json failed" in r.getMessage()] == [
        f"upload of posts.json failed (object store unreachable (ConnectError)), attempt {n}/3"
        for n in (1, 2, 3)
    ]


async def test_a_refused_or_missing_object_is_final_at_once(store: Any, caplog: Any) -> None:
    key = artifact_key(uuid.uuid4().hex, "posts.json")
    async with httpx.AsyncClient() as client:
        with pytest.raises(NotFound, match="posts.json does not exist"):
            await get_bytes(
                client, await store.presign_get(key), what="posts.json", attempts=5, backoff_s=0.01
            )
        forged = (await store.presign_put(key)).replace("posts.json", "other.json")
        with pytest.raises(TransferError, match="rejected: HTTP 403 \\(presigned URL expired or invalid\\)"):
            await put_bytes(
                client,
                forged,
                b"x",
                what="posts.json",
                content_type="application/json",
                attempts=5,
                backoff_s=0.01,
            )
    assert not [r for r in caplog.records if "failed" in r.getMessage()]  # no attempt was retried
