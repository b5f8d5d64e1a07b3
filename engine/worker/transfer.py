"""Presigned-URL transfers (artifacts, checkpoints, resume) with retries. URLs are never logged."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random

import httpx

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransferError(RuntimeError):
    """A transfer that failed for good; the message names what and why, never the URL."""


class NotFound(TransferError):
    """The object behind a presigned GET does not exist (404)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _delay(attempt: int, base: float) -> float:
    return base * (2 ** attempt) * (0.5 + random.random())


def _unreachable(exc: httpx.TransportError) -> str:
    """A transport failure in words (never the URL): the object store could not be reached."""
    return f"object store unreachable ({type(exc).__name__})"


def _etag_ok(response: httpx.Response, data: bytes) -> bool:
    """S3 returns the MD5 of a single-part PUT as its ETag: check the bytes arrived intact."""
    etag = response.headers.get("etag", "").strip('"')
    if len(etag) != 32 or "-" in etag:
        return True  # not a plain MD5 ETag: nothing to check against
    return etag.lower() == hashlib.md5(data, usedforsecurity=False).hexdigest()


async def put_bytes(
    client: httpx.AsyncClient, url: str, data: bytes, *, what: str, content_type: str,
    attempts: int, backoff_s: float,
) -> int:
    """PUT `data` to a presigned URL; retries transient failures. Returns the number of retries."""
    last = "no attempt made"
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(_delay(attempt - 1, backoff_s))
        try:
            response = await client.put(url, content=data, headers={"content-type": content_type})
        except httpx.TransportError as exc:
            last = _unreachable(exc)
            log.warning("upload of %s failed (%s), attempt %d/%d", what, last, attempt + 1, attempts)
            continue
        if response.is_success:
            if _etag_ok(response, data):
                return attempt
            last = "the stored object's ETag does not match the bytes sent"
        elif response.status_code in _RETRYABLE_STATUS:
            last = f"HTTP {response.status_code}"
        else:
            hint = " (presigned URL expired or invalid)" if response.status_code == 403 else ""
            raise TransferError(f"upload of {what} to the object store rejected: HTTP {response.status_code}{hint}")
        log.warning("upload of %s failed (%s), attempt %d/%d", what, last, attempt + 1, attempts)
    raise TransferError(f"upload of {what} to the object store failed after {attempts} attempts: {last}")


async def get_bytes(
    client: httpx.AsyncClient, url: str, *, what: str, attempts: int, backoff_s: float
) -> bytes:
    """GET a presigned URL; retries transient failures; NotFound on 404."""
    last = "no attempt made"
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(_delay(attempt - 1, backoff_s))
        try:
            response = await client.get(url)
        except httpx.TransportError as exc:
            last = _unreachable(exc)
            continue
        if response.is_success:
            return response.content
        if response.status_code == 404:
            raise NotFound(f"{what} does not exist (HTTP 404)")
        if response.status_code not in _RETRYABLE_STATUS:
            raise TransferError(f"download of {what} from the object store rejected: HTTP {response.status_code}")
        last = f"HTTP {response.status_code}"
    raise TransferError(f"download of {what} from the object store failed after {attempts} attempts: {last}")
