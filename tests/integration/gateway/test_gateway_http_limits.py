"""Body size and JSON depth limits, and the offline Swagger UI, on the gateway served by uvicorn.

These go through a real socket (`services.gateway.main.serve`), because what matters is what the
server reads off the wire before it answers: a 100 MB body must be refused, not buffered.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.gateway.accounts import ensure_local_user
from services.gateway.limits import DEFAULT_BODY_LIMIT, JOB_BODY_LIMIT, MAX_JSON_DEPTH
from tests.integration.gateway.conftest import served_gateway

pytestmark = pytest.mark.integration
HUNDRED_MB = 100 * 1024 * 1024


@pytest_asyncio.fixture
async def served(settings: Any, pg_pool: Any) -> AsyncIterator[tuple[str, int, str]]:
    """(host, port, API key) of a gateway under uvicorn, stopped after the test."""
    async with served_gateway(settings):
        _, key = await ensure_local_user(pg_pool)
        yield "127.0.0.1", settings.gateway_port, key


def _recv(sock: socket.socket) -> bytes:
    # The server closes with our unread bytes in its buffer, which may end in a reset after its answer.
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response read from a raw socket (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, "the server closed the connection without an answer"
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = _recv(sock)
        if not chunk:
            break
        body += chunk
    return status, body


def _declared_too_large(host: str, port: int, path: str) -> tuple[int, bytes, int]:
    """Declare a 100 MB body, send a little of it, and read the answer."""
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {HUNDRED_MB}\r\n\r\n".encode()
            + b'{"email": "'
        )
        status, body = _read_response(sock)
        return status, body, 0


def _streamed_too_large(host: str, port: int, path: str, key: str) -> tuple[int, bytes, int]:
    """Send chunks (no Content-Length) until the server answers; returns how much was sent."""
    sent = 0
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b" " * 65536
        sock.settimeout(0.05)
        try:
            while sent < HUNDRED_MB:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                try:
                    if sock.recv(1, socket.MSG_PEEK):
                        break  # the server has answered
                except TimeoutError:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(20)
        status, body = _read_response(sock)
        return status, body, sent


async def test_a_declared_100_mb_body_is_refused_before_reading(served):
    host, port, _ = served
    for path in ("/api/auth/login", "/api/auth/register", "/api/jobs", "/api/keys"):
        status, body, _ = await asyncio.to_thread(_declared_too_large, host, port, path)
        assert status == 413, (path, body)
        assert b'"code":"body_too_large"' in body.replace(b" ", b"")


async def test_a_streamed_body_is_cut_off_at_the_limit(served):
    host, port, key = served
    for path, limit in (("/api/auth/login", DEFAULT_BODY_LIMIT), ("/api/jobs", JOB_BODY_LIMIT)):
        status, body, sent = await asyncio.to_thread(_streamed_too_large, host, port, path, key)
        assert status == 413, (path, body)
        assert b"body_too_large" in body
        # Answered long before the 100 MB were sent: the gateway stopped reading at its limit.
        assert sent < limit + 16 * 1024 * 1024 < HUNDRED_MB, sent


async def test_deeply_nested_json_is_refused(served):
    host, port, key = served
    deep = b'{"email": ' + b"[" * 5000 + b"]" * 5000 + b', "password": "x"}'
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=20) as client:
        for path in ("/api/auth/login", "/api/jobs"):
            r = await client.post(
                path,
                content=deep,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "json_too_deep" and str(MAX_JSON_DEPTH) in r.json()["detail"]
        # Ordinary nesting passes the check (and then fails on its merits, if at all).
        ok = await client.post("/api/auth/login", json={"email": "a@example.com", "password": "not it"})
        assert ok.status_code == 401


async def test_swagger_ui_is_served_without_a_cdn(served):
    host, port, _ = served
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=20) as client:
        page = await client.get("/api/docs")
        assert page.status_code == 200 and "swagger" in page.text.lower()
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
        urls += re.findall(r"""url:\s*["']([^"']+)["']""", page.text)
        assert urls, page.text
        assert not [u for u in urls if "//" in u], urls  # nothing from another host
        assets = [u for u in urls if u.endswith((".js", ".css"))]
        assert any(u.endswith("swagger-ui-bundle.js") for u in assets) and any(
            u.endswith(".css") for u in assets
        )
        for url in urls:
            r = await client.get(url)
            assert r.status_code == 200, url
            assert len(r.content) > 100, url
