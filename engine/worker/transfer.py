"""Presigned-URL transfers (artifacts, checkpoints, resume) with retries. URLs are never logged."""

from __future__ import annotations

import base64
import hashlib
import logging

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransferError(RuntimeError):
    """A transfer that failed for good; the message names what and why, never the URL."""


class NotFound(TransferError):
    """The object behind a presigned GET does not exist (404)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_hex(data: bytes) -> str:
    """The MD5 an S3 store checks a PUT against (Content-MD5) and returns as its ETag: integrity, not security."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class _Transient(Exception):
    """A failure worth another attempt; its message says what happened (never the URL)."""


def _retrying(attempts: int, backoff_s: float) -> AsyncRetrying:
    """`attempts` tries of a transfer, `backoff_s` doubling (with jitter) between them, on _Transient only."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s, max=30.0) + wait_random(0, backoff_s),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )


def _unreachable(exc: httpx.TransportError) -> str:
    """A transport failure in words (never the URL): the object store could not be reached."""
    return f"object store unreachable ({type(exc).__name__})"


def _etag_ok(response: httpx.Response, data: bytes) -> bool:
    """S3 returns the MD5 of a single-part PUT as its ETag: check the bytes arrived intact."""
    etag = response.headers.get("etag", "").strip('"')
    if len(etag) != 32 or "-" in etag:
        return True  # not a plain MD5 ETag: nothing to check against
    return etag.lower() == md5_hex(data)


async def put_bytes(
    client: httpx.AsyncClient,
    url: str,
    data: bytes,
    *,
    what: str,
    content_type: str,
    attempts: int,
    backoff_s: float,
) -> int:
    """PUT `data` to a presigned URL; retries transient failures. Returns the number of retries.

    The PUT carries Content-MD5, so the store refuses bytes damaged on the way (400 BadDigest).
    """
    headers = {
        "content-type": content_type,
        "content-md5": base64.b64encode(bytes.fromhex(md5_hex(data))).decode(),
    }
    try:
        async for attempt in _retrying(attempts, backoff_s):
            with attempt:
                number = attempt.retry_state.attempt_number
                try:
                    response = await client.put(url, content=data, headers=headers)
                except httpx.TransportError as exc:
                    raise _upload_failed(what, _unreachable(exc), number, attempts) from exc
                if response.is_success:
                    if _etag_ok(response, data):
                        return number - 1
                    raise _upload_failed(
                        what, "the stored object's ETag does not match the bytes sent", number, attempts
                    )
                if response.status_code in _RETRYABLE_STATUS:
                    raise _upload_failed(what, f"HTTP {response.status_code}", number, attempts)
                hint = " (presigned URL expired or invalid)" if response.status_code == 403 else ""
                raise TransferError(
                    f"upload of {what} to the object store rejected: HTTP {response.status_code}{hint}"
                )
    except _Transient as exc:
        raise TransferError(
            f"upload of {what} to the object store failed after {attempts} attempts: {exc}"
        ) from exc
    raise TransferError(f"upload of {what} to the object store failed: no attempt made")


def _upload_failed(what: str, why: str, number: int, attempts: int) -> _Transient:
    log.warning("upload of %s failed (%s), attempt %d/%d", what, why, number, attempts)
    return _Transient(why)


async def get_bytes(
    client: httpx.AsyncClient, url: str, *, what: str, attempts: int, backoff_s: float
) -> bytes:
    """GET a presigned URL; retries transient failures; NotFound on 404."""
    try:
        async for attempt in _retrying(attempts, backoff_s):
            with attempt:
                try:
                    response = await client.get(url)
                except httpx.TransportError as exc:
                    raise _Transient(_unreachable(exc)) from exc
                if response.is_success:
                    return response.content
                if response.status_code == 404:
                    raise NotFound(f"{what} does not exist (HTTP 404)")
                if response.status_code not in _RETRYABLE_STATUS:
                    raise TransferError(
                        f"download of {what} from the object store rejected: HTTP {response.status_code}"
                    )
                raise _Transient(f"HTTP {response.status_code}")
    except _Transient as exc:
        raise TransferError(
            f"download of {what} from the object store failed after {attempts} attempts: {exc}"
        ) from exc
    raise TransferError(f"download of {what} from the object store failed: no attempt made")
