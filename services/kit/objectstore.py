"""The one module that owns every S3 call (aioboto3): buckets, objects, presigned URLs.

An ObjectStore holds one S3 client (and its connection pool) for the life of the process: building a
client per call costs ~16 ms (botocore loads its service model each time) against ~1 ms for a presign
on a kept client (`python bench/objectstore.py`). Close it with `await store.close()` (or `async with`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from contracts.artifacts import ArtifactRef
from services.kit.settings import Settings, SettingsError

log = logging.getLogger(__name__)


class ObjectStoreUnavailable(RuntimeError):
    """The object store could not be reached or refused the request."""


class ObjectNotFound(KeyError):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ObjectStore:
    """A bucket on any S3 endpoint (SeaweedFS in the embedded default)."""

    def __init__(self, settings: Settings, bucket: str | None = None) -> None:
        if not (settings.s3_access_key and settings.s3_secret_key):
            # Fail at start-up, naming the settings, rather than sign with whatever the environment holds.
            raise SettingsError(
                "S3_ACCESS_KEY and S3_SECRET_KEY must be set for the object store "
                f"at {settings.s3_endpoint} (docs/security.md)"
            )
        self.bucket = bucket or settings.s3_bucket
        self.endpoint = settings.s3_endpoint
        self._session = aioboto3.Session(
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key,
            region_name=settings.s3_region,
        )
        self._config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        # The one client, made on first use in the running loop (aiobotocore clients are bound to it).
        self._s3: Any = None
        self._exit: AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def __aenter__(self) -> ObjectStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client and its connections; a later call opens a new one."""
        exit_stack, self._exit, self._s3, self._loop = self._exit, None, None, None
        if exit_stack is not None:
            await exit_stack.aclose()

    async def _shared_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._s3 is not None and self._loop is loop:
            return self._s3
        if self._opening is None or self._loop is not loop:
            # A client (or lock) of another, finished loop cannot be used or closed here: start afresh.
            self._s3, self._exit, self._loop, self._opening = None, None, loop, asyncio.Lock()
        async with self._opening:
            if self._s3 is None:
                exit_stack = AsyncExitStack()
                self._s3 = await exit_stack.enter_async_context(
                    self._session.client("s3", endpoint_url=self.endpoint, config=self._config)
                )
                self._exit = exit_stack
            return self._s3

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        """The process's client, for one call: leaving the block keeps it open."""
        yield await self._shared_client()

    async def ensure_bucket(self) -> None:
        try:
            async with self._client() as s3:
                try:
                    await s3.head_bucket(Bucket=self.bucket)
                except ClientError:
                    try:
                        await s3.create_bucket(Bucket=self.bucket)
                    except ClientError as exc:
                        # Another replica created it between our HEAD and CREATE: it exists, fine.
                        if exc.response.get("Error", {}).get("Code") not in (
                            "BucketAlreadyOwnedByYou",
                            "BucketAlreadyExists",
                        ):
                            raise
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreUnavailable(f"object store at {self.endpoint}: {exc}") from exc

    async def ping(self) -> bool:
        try:
            async with self._client() as s3:
                await s3.head_bucket(Bucket=self.bucket)
            return True
        except Exception:
            return False

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> ArtifactRef:
        try:
            async with self._client() as s3:
                await s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreUnavailable(f"writing {key}: {exc}") from exc
        return ArtifactRef(
            name=key.rsplit("/", 1)[-1],
            key=key,
            size=len(data),
            sha256=sha256_hex(data),
            content_type=content_type,
        )

    async def get_bytes(self, key: str) -> bytes:
        try:
            async with self._client() as s3:
                resp = await s3.get_object(Bucket=self.bucket, Key=key)
                async with resp["Body"] as body:
                    return bytes(await body.read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise ObjectNotFound(key) from exc
            raise ObjectStoreUnavailable(f"reading {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreUnavailable(f"reading {key}: {exc}") from exc

    async def head(self, key: str) -> dict[str, Any] | None:
        try:
            async with self._client() as s3:
                return dict(await s3.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise ObjectStoreUnavailable(f"head {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreUnavailable(f"head {key}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            async with self._client() as s3:
                paginator = s3.get_paginator("list_objects_v2")
                async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                    keys.extend(obj["Key"] for obj in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreUnavailable(f"listing {prefix}: {exc}") from exc
        return keys

    async def presign_put(self, key: str, expires: int = 3600, content_type: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type:
            params["ContentType"] = content_type
        async with self._client() as s3:
            return str(await s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires))

    async def presign_get(self, key: str, expires: int = 900) -> str:
        async with self._client() as s3:
            return str(
                await s3.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
                )
            )
