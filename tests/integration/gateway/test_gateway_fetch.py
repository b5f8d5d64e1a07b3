"""`POST /api/fetch` against SSRF, on the real gateway, with real HTTP servers on loopback.

No traffic leaves the machine. A "public" web server can only exist here because the test injects
a Fetcher whose address check treats exactly one loopback address (127.0.0.2) as public; the
"internal" server listens on 127.0.0.1 and counts every request it gets: it must get none. The
production fetcher (no injection) refuses even the "public" test server.

Also `POST /api/ai/generate-goal` against the fake OpenAI-compatible server (tests/fakes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import trustme

from services.gateway.fetcher import Fetcher, IPAddress, non_public_reason
from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer

pytestmark = pytest.mark.integration

TEST_PUBLIC = ipaddress.ip_address("127.0.0.2")
ARTICLE = (
    "<html><head><title>Port strike</title><script>var secret = 1;</script></head><body>"
    "<nav>Home | Sports</nav><article><h1>Dockworkers strike at Rotterdam</h1>"
    "<p>The union said the strike would last <b>ten days</b>.</p></article></body></html>"
)


def test_public_check(ip: IPAddress) -> str | None:
    """The production check, except that 127.0.0.2 plays a public web server."""
    return None if ip == TEST_PUBLIC else non_public_reason(ip)


test_public_check.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


Handler = Callable[[str, dict[str, str], asyncio.StreamWriter], Any]


@dataclass
class WebServer:
    """A small HTTP/1.1 server on one loopback address; `routes` maps a path to a response."""

    host: str
    port: int = 0
    routes: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    server: asyncio.Server | None = None
    tls: ssl.SSLContext | None = None

    async def start(self) -> WebServer:
        self.server = await asyncio.start_server(self._handle, self.host, self.port, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines[1:] if ln)}
            self.requests.append((path, headers))
            route = self.routes.get(path, (404, {}, b"not here"))
            if callable(route):
                await route(writer)
            else:
                status, extra, body = route
                hdrs = {
                    "Content-Type": "text/html; charset=utf-8",
                    "Content-Length": str(len(body)),
                    "Connection": "close",
                    **extra,
                }
                writer.write(
                    f"HTTP/1.1 {status} X\r\n".encode()
                    + b"".join(f"{k}: {v}\r\n".encode() for k, v in hdrs.items())
                    + b"\r\n"
                    + body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)


async def _pair_on_one_port() -> tuple[WebServer, WebServer]:
    """A 'public' server on 127.0.0.2 and an internal one on 127.0.0.1, both on the same port."""
    for _ in range(50):
        public = await WebServer("127.0.0.2").start()
        try:
            internal = await WebServer("127.0.0.1", public.port).start()
            return public, internal
        except OSError:
            await public.stop()
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.fixture
async def servers() -> AsyncIterator[tuple[WebServer, WebServer]]:
    public, internal = await _pair_on_one_port()
    public.routes["/article"] = (200, {}, ARTICLE.encode())
    internal.routes["/secret"] = (200, {}, b"<p>internal admin page</p>")
    try:
        yield public, internal
    finally:
        await public.stop()
        await internal.stop()


def _inject(gw: Any, fetcher: Fetcher) -> None:
    gw.app.state.ctx.extra["fetcher"] = fetcher


async def _fetch(gw: Any, url: str) -> httpx.Response:
    return await gw.client.post("/api/fetch", json={"url": url}, headers=gw.as_alice)


def _refused(r: httpx.Response, code: str = "url_not_public") -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code, body
    assert body["detail"].startswith("url: ")


async def test_a_public_page_becomes_seed_text(gw, servers):
    public, _ = servers

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [TEST_PUBLIC] if host == "news.test" else []

    _inject(gw, Fetcher(check=test_public_check, resolver=resolve))
    r = await _fetch(gw, public.url("/article"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "Dockworkers strike at Rotterdam" in body["text"] and "ten days" in body["text"]
    assert "secret" not in body["text"] and "Sports" not in body["text"]
    assert body["char_count"] == len(body["text"]) and body["source_url"] == public.url("/article")
    assert body["title"] == "Port strike" and body["truncated"] is False
    # By name: the connection goes to the resolved address, the Host header keeps the name.
    r = await _fetch(gw, public.url("/article", host="news.test"))
    assert r.status_code == 200, r.text
    assert public.requests[-1][1]["host"] == f"news.test:{public.port}"


async def test_the_production_fetcher_refuses_the_test_server(gw, servers):
    public, _ = servers
    r = await _fetch(gw, public.url("/article"))  # no injection: 127.0.0.2 is loopback
    _refused(r)
    assert "loopback" in r.json()["detail"]
    assert public.requests == []


# Every spelling of a non-public address that a resolver or an HTTP stack would accept.
NON_PUBLIC_HOSTS = [
    "127.0.0.1",
    "localhost",
    "2130706433",
    "0177.0.0.1",
    "0x7f000001",
    "0x7f.1",
    "127.1",
    "0",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[2002:7f00:1::]",
    "[64:ff9b::7f00:1]",
    "10.0.0.1",
    "192.168.0.1",
    "172.16.5.4",
    "100.64.0.1",
    "169.254.169.254",
    "[fe80::1]",
    "[fd00::1]",
    "224.0.0.1",
    "255.255.255.255",
]


@pytest.mark.parametrize("host", NON_PUBLIC_HOSTS)
async def test_non_public_addresses_are_refused_before_connecting(gw, servers, host):
    """Asked for directly, or reached by a redirect from a public page: refused, nothing sent to it."""
    public, internal = servers
    _inject(gw, Fetcher(check=test_public_check))
    target = f"http://{host}:{internal.port}/secret"
    _refused(await _fetch(gw, target))
    public.routes["/go"] = (302, {"Location": target}, b"")
    _refused(await _fetch(gw, public.url("/go")))
    assert [p for p, _ in public.requests] == ["/go"]
    assert internal.requests == []


async def test_redirects_are_followed_and_limited(gw, servers):
    public, _ = servers
    public.routes["/old"] = (301, {"Location": "/moved"}, b"")
    public.routes["/moved"] = (307, {"Location": public.url("/article")}, b"")
    public.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    _inject(gw, Fetcher(check=test_public_check))
    r = await _fetch(gw, public.url("/old"))
    assert r.status_code == 200, r.text
    assert r.json()["source_url"] == public.url("/article")
    r = await _fetch(gw, public.url("/loop"))
    assert r.status_code == 502 and r.json()["code"] == "too_many_redirects", r.text
    assert [p for p, _ in public.requests].count("/loop") == 6  # the first request and five redirects


async def test_dns_rebinding_cannot_redirect_the_connection(gw, servers):
    """The name resolves once: first to the 'public' address, then (for anyone asking again) to the
    internal one. 'localhost' is also what the system resolver maps to 127.0.0.1, so a fetcher that
    let its HTTP client resolve the name again would reach the internal server."""
    public, internal = servers
    internal.routes["/article"] = (200, {}, b"<p>internal admin page</p>")
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        answers.append(host)
        return [TEST_PUBLIC] if len(answers) == 1 else [ipaddress.ip_address("127.0.0.1")]

    _inject(gw, Fetcher(check=test_public_check, resolver=rebinding))
    r = await _fetch(gw, f"http://localhost:{public.port}/article")
    assert r.status_code == 200, r.text
    assert "Dockworkers" in r.json()["text"]
    assert answers == ["localhost"]  # resolved once
    assert internal.requests == []  # the connection went to the checked address
    assert public.requests[-1][1]["host"] == f"localhost:{public.port}"

    # A name with one public and one internal address is refused as a whole.
    async def mixed(host: str, port: int) -> list[IPAddress]:
        return [TEST_PUBLIC, ipaddress.ip_address("127.0.0.1")]

    _inject(gw, Fetcher(check=test_public_check, resolver=mixed))
    _refused(await _fetch(gw, f"http://anything.test:{public.port}/article"))
    assert internal.requests == []


async def test_https_checks_the_certificate_for_the_name_while_connecting_to_the_checked_address(gw):
    """TLS keeps the name (SNI and the certificate check) although the socket goes to the pinned IP."""
    ca = trustme.CA()
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [TEST_PUBLIC]

    for cert_name, url_host, ok in [
        ("secure.test", "secure.test", True),
        ("other.test", "secure.test", False),
        ("secure.test", "127.0.0.2", False),
    ]:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(cert_name).configure_cert(tls)
        server = await WebServer("127.0.0.2", tls=tls).start()
        server.routes["/article"] = (200, {}, ARTICLE.encode())
        try:
            _inject(gw, Fetcher(check=test_public_check, resolver=resolve, ssl_context=trusting))
            r = await _fetch(gw, server.url("/article", host=url_host))
            if ok:
                assert r.status_code == 200, r.text
                assert "Dockworkers" in r.json()["text"]
                assert server.requests[-1][1]["host"] == f"secure.test:{server.port}"
            else:
                assert r.status_code == 502 and r.json()["code"] == "fetch_failed", r.text
                assert "certificate" in r.json()["detail"].lower() or "hostname" in r.json()["detail"].lower()
                assert server.requests == []
        finally:
            await server.stop()


async def test_the_size_cap_holds_while_streaming(gw, servers):
    public, _ = servers
    sent = {"bytes": 0}

    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 16384
        while True:  # until the fetcher hangs up
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            sent["bytes"] += len(chunk)

    public.routes["/endless"] = endless
    public.routes["/declared"] = (200, {"Content-Length": "999999999"}, b"")
    # A long total timeout: a fetcher that did not stop at the cap would time out (504), not 422.
    _inject(gw, Fetcher(check=test_public_check, max_bytes=256 * 1024, total_timeout_s=120))
    _refused(await _fetch(gw, public.url("/endless")), "fetch_too_large")
    _refused(await _fetch(gw, public.url("/declared")), "fetch_too_large")


async def test_timeouts_and_unusable_answers(gw, servers):
    public, _ = servers

    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    public.routes["/silent"] = silent
    public.routes["/pdf"] = (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4")
    public.routes["/empty"] = (200, {}, b"<html><body><script>x()</script></body></html>")
    public.routes["/gone"] = (404, {}, b"nope")
    _inject(gw, Fetcher(check=test_public_check, read_timeout_s=0.5))
    r = await _fetch(gw, public.url("/silent"))
    assert r.status_code == 504 and r.json()["code"] == "fetch_timeout", r.text
    _refused(await _fetch(gw, public.url("/pdf")), "unsupported_content_type")
    _refused(await _fetch(gw, public.url("/empty")), "empty_page")
    r = await _fetch(gw, public.url("/gone"))
    assert r.status_code == 502 and r.json()["code"] == "fetch_failed" and "HTTP 404" in r.json()["detail"]
    # Nothing listens here: a connection error, not a traceback.
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        closed_port = s.getsockname()[1]
    r = await _fetch(gw, f"http://127.0.0.2:{closed_port}/")
    assert r.status_code == 502 and r.json()["code"] == "fetch_failed", r.text


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "file:///etc/passwd"}, "invalid_url", "url: the scheme 'file'"),
        ({"url": "gopher://127.0.0.2:70/"}, "invalid_url", "url: the scheme 'gopher'"),
        ({"url": "http://u:p@example.com/"}, "invalid_url", "url: credentials"),
        ({"url": "http://example.com/\x00"}, "invalid_request", "url: "),
        ({}, "invalid_request", "url: "),
        ({"url": "x" * 3000}, "invalid_request", "url: "),
    ],
)
async def test_bad_input_names_the_field(gw, body, code, field):
    r = await gw.client.post("/api/fetch", json=body, headers=gw.as_alice)
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert r.json()["detail"].startswith(field)


async def test_fetch_needs_credentials_and_is_rate_limited(gw, servers, settings):
    public, _ = servers
    r = await gw.client.post("/api/fetch", json={"url": public.url("/article")})
    assert r.status_code == 401
    settings.rate_limits = "fetch_user=2/3600"
    _inject(gw, Fetcher(check=test_public_check))
    for _ in range(2):
        assert (await _fetch(gw, public.url("/article"))).status_code == 200
    r = await _fetch(gw, public.url("/article"))
    assert r.status_code == 429 and r.json()["code"] == "rate_limited" and "fetch_user" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1
    # Bob has his own budget.
    r = await gw.client.post("/api/fetch", json={"url": public.url("/article")}, headers=gw.as_bob)
    assert r.status_code == 200


# -- POST /api/ai/generate-goal ---------------------------------------------------------------------

SEED = "Dockworkers at Rotterdam began a strike on Monday; the union says it will last ten days."


async def test_generate_goal_without_a_model_is_503(gw, settings):
    settings.llm_url = None
    r = await gw.client.post(
        "/api/ai/generate-goal", json={"seed_text": SEED, "category": "economy"}, headers=gw.as_alice
    )
    assert r.status_code == 503 and r.json()["code"] == "llm_not_configured", r.text


async def test_generate_goal_asks_the_model(gw, settings):
    question = "Will the Rotterdam dockworkers' strike end within 10 days?"
    script = [
        {"content": json.dumps({"goal": question})},
        {"content": "I cannot help\nwith\x07 that"},
        {"content": ""},
    ]
    with FakeOpenAIServer(FakeBehaviour(script=script)) as fake:
        settings.llm_url = fake.url
        r = await gw.client.post(
            "/api/ai/generate-goal", json={"seed_text": SEED, "category": "economy"}, headers=gw.as_alice
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"goal": question}
        async with httpx.AsyncClient() as http:
            recorded = (await http.get(f"{fake.base}/_fake/requests")).json()
        prompt = json.dumps(recorded)
        assert "Rotterdam began a strike" in prompt and "economy" in prompt
        for _ in range(2):  # a reply that is not one usable question, then an empty one
            r = await gw.client.post("/api/ai/generate-goal", json={"seed_text": SEED}, headers=gw.as_alice)
            assert r.status_code == 502 and r.json()["code"] == "llm_bad_reply", r.text
    settings.llm_url = None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "x"}, "seed_text: "),
        ({"seed_text": "a\x00b"}, "seed_text: "),
        ({"seed_text": "x" * 50_001}, "seed_text: "),
        ({"seed_text": SEED, "category": "c" * 101}, "category: "),
    ],
)
async def test_generate_goal_bad_input_names_the_field(gw, settings, body, field):
    settings.llm_url = "http://127.0.0.1:9/v1"  # never reached: the input is refused first
    r = await gw.client.post("/api/ai/generate-goal", json=body, headers=gw.as_alice)
    settings.llm_url = None
    assert r.status_code == 422 and r.json()["detail"].startswith(field), r.text
