"""A server-side fetch of one web page for building a seed, safe against SSRF (`POST /api/fetch`).

The threat: a user names a URL and the gateway, which sits inside the platform's network, fetches
it. Without care that reaches the cloud metadata service (169.254.169.254), Postgres, NATS or any
internal admin page. The rules, each enforced here and tested in
tests/integration/gateway/test_gateway_fetch.py:

* `http` and `https` only; no credentials in the URL; a host that is a name or an IP literal.
* The host is turned into addresses exactly once per hop: IP literals (also the legacy decimal,
  octal, hexadecimal and shortened IPv4 forms such as `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`,
  which `inet_aton` and so many HTTP stacks accept) are decoded here without asking any resolver;
  names are resolved once. **Every** address must be public (`non_public_reason`), or nothing is
  sent.
* The connection goes to one of the addresses that were checked (`_PinnedBackend`), while the URL,
  the `Host` header and the TLS SNI/certificate check keep the name: a DNS answer that changes
  between the check and the connect (rebinding) is never asked for.
* Redirects are followed by hand, at most `max_redirects` hops, each hop checked like the first.
* The body is read in chunks and refused past `max_bytes` (a declared `Content-Length` over it is
  refused before reading); connect, read and total timeouts bound the time.

The address check and the resolver are constructor arguments so a test can stand up a "public"
server on a loopback address; production uses `Fetcher()` with the defaults, and no setting can
change them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

from services.gateway.errors import ApiError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
AddressCheck = Callable[[IPAddress], "str | None"]

MAX_URL_CHARS = 2_048
MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
TOTAL_TIMEOUT_S = 25.0
USER_AGENT = "SimSwarm-SeedFetcher/1.0 (+https://github.com/simswarm)"
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
_REDIRECTS = {301, 302, 303, 307, 308}
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$"
)
_LEGACY_IPV4 = re.compile(r"^[0-9a-fA-FxX.]+$")

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class FetchError(ApiError):
    """The fetch was refused or failed; `status`/`code`/`detail` are what the API answers."""


@dataclass(frozen=True)
class Fetched:
    """A fetched page: the final URL (after redirects), its content type and its raw body."""

    url: str
    content_type: str
    charset: str | None
    body: bytes


# The `ipaddress` properties that make an address non-public, in the order they are named.
_V4_FLAGS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)
_V6_FLAGS = (*_V4_FLAGS[:3], ("is_site_local", "site-local"), *_V4_FLAGS[3:])


def _flag_reason(ip: IPAddress, flags: tuple[tuple[str, str], ...]) -> str | None:
    """The first reason in `flags` that `ip` has, else "not globally routable" for what is not global
    (shared address space 100.64/10 and the like), else None."""
    for attribute, reason in flags:
        if getattr(ip, attribute):
            return reason
    return None if ip.is_global else "not globally routable"


def _ipv4_reason(ip: ipaddress.IPv4Address) -> str | None:
    return _flag_reason(ip, _V4_FLAGS)  # the broadcast address is in 240/4, reserved


def non_public_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address (a short phrase), or None when it is public.

    IPv6 addresses that carry an IPv4 address (mapped, compatible, 6to4, Teredo, NAT64) are judged
    by the IPv4 address they lead to as well.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_reason(ip)
    if ip.ipv4_mapped is not None or ip in _NAT64:  # the connection goes to the IPv4 host itself
        v4 = ip.ipv4_mapped or ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        reason = _ipv4_reason(v4)
        return None if reason is None else f"{reason} (embedded IPv4 {v4})"
    if ip in _NAT64_LOCAL:
        return "local-use NAT64"
    embedded: list[ipaddress.IPv4Address] = []
    if (
        int(ip) >> 32 == 0 and int(ip) > 1
    ):  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    for v4 in embedded:
        if (reason := _ipv4_reason(v4)) is not None:
            return f"{reason} (embedded IPv4 {v4})"
    return _flag_reason(ip, _V6_FLAGS)


def literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address when it is one in any spelling a resolver would accept, else None.

    Covers the dotted quad, IPv6 (with a zone index refused), and the legacy IPv4 forms
    `inet_aton` accepts: one to four parts, each decimal, octal (leading 0) or hex (0x).
    """
    if "%" in host:  # an IPv6 zone index or a percent-encoded name: neither is fetched
        raise FetchError(422, "invalid_url", f"url: the host {host!r} is not a valid host name")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (A and AAAA)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


@dataclass(frozen=True)
class Target:
    """One hop's URL, taken apart and checked for shape (not yet for its addresses)."""

    url: str
    scheme: str
    host: str  # ASCII, lower case, no brackets
    port: int
    target: str  # path and query, as sent on the request line
    literal: IPAddress | None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """Check a URL's shape: http(s), a host, no credentials, a valid port. 422 `invalid_url` otherwise."""
    if len(url) > MAX_URL_CHARS:
        raise FetchError(
            422, "invalid_url", f"url: is {len(url):,} characters; the limit is {MAX_URL_CHARS:,}"
        )
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c.isspace() for c in url):
        raise FetchError(422, "invalid_url", "url: must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(422, "invalid_url", f"url: is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(
            422, "invalid_url", f"url: the scheme {scheme or '(none)'!r} is not allowed; use http or https"
        )
    if parts.username is not None or parts.password is not None:
        raise FetchError(422, "invalid_url", "url: credentials in the URL are not allowed")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise FetchError(422, "invalid_url", "url: has no host")
    literal = literal_address(raw_host)
    if literal is not None:
        host = str(literal)
    else:
        try:
            host = raw_host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise FetchError(
                422, "invalid_url", f"url: the host {raw_host!r} is not a valid host name"
            ) from None
        if not _HOSTNAME.match(host):
            raise FetchError(422, "invalid_url", f"url: the host {raw_host!r} is not a valid host name")
    if port == 0:
        raise FetchError(422, "invalid_url", "url: port 0 is not allowed")
    port = port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url=url, scheme=scheme, host=host, port=port, target=target, literal=literal)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the checked addresses only, whatever host name the request carries."""

    def __init__(self, host: str, addresses: Sequence[IPAddress]) -> None:
        self._host = host
        self._addresses = list(addresses)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        if host.strip("[]") != self._host:  # never: one pool per hop, built for its host
            raise httpcore.ConnectError(f"refusing to connect to unchecked host {host!r}")
        last: Exception = httpcore.ConnectError("no address to connect to")
        for ip in self._addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    media, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.strip().partition("=")
        if key.lower() == "charset" and val:
            charset = val.strip("\"' ").lower()
    return media.strip().lower(), charset


@dataclass(frozen=True, kw_only=True)
class Fetcher:
    """Fetches one URL by the rules in the module's docstring.

    `check(ip)` returns why an address is refused (None: allowed); `resolver(host, port)` turns a
    name into addresses. Both default to the strict production behaviour.
    """

    resolver: Resolver = system_resolve
    check: AddressCheck = non_public_reason
    max_bytes: int = MAX_BYTES
    max_redirects: int = MAX_REDIRECTS
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S
    total_timeout_s: float = TOTAL_TIMEOUT_S
    ssl_context: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    async def fetch(self, url: str) -> Fetched:
        """The page at `url` after at most `max_redirects` redirects; FetchError when refused or failed."""
        try:
            async with asyncio.timeout(self.total_timeout_s):
                return await self._follow(url)
        except TimeoutError:
            raise FetchError(
                504, "fetch_timeout", f"url: no complete answer within {self.total_timeout_s:g} s"
            ) from None

    async def _follow(self, url: str) -> Fetched:
        current = url
        for hop in range(self.max_redirects + 1):
            target = parse_target(current)
            addresses = await self.addresses(target)
            status, headers, body = await self._get(target, addresses)
            if status in _REDIRECTS:
                location = _header(headers, b"location")
                if not location:
                    raise FetchError(
                        502, "fetch_failed", f"url: {target.url} answered {status} without a Location"
                    )
                if hop == self.max_redirects:
                    break
                current = urljoin(target.url, location)
                continue
            if not 200 <= status < 300:
                raise FetchError(502, "fetch_failed", f"url: {target.url} answered HTTP {status}")
            media, charset = _content_type(_header(headers, b"content-type"))
            if media and media not in TEXT_TYPES:
                raise FetchError(
                    422,
                    "unsupported_content_type",
                    f"url: {target.url} is {media}; only HTML and plain text can become a seed",
                )
            return Fetched(url=target.url, content_type=media or "text/html", charset=charset, body=body)
        raise FetchError(502, "too_many_redirects", f"url: more than {self.max_redirects} redirects")

    async def addresses(self, target: Target) -> list[IPAddress]:
        """The hop's addresses, every one of them allowed by the check; 422 `url_not_public` otherwise."""
        if target.literal is not None:
            found = [target.literal]
        else:
            try:
                found = await self.resolver(target.host, target.port)
            except (OSError, UnicodeError) as exc:
                raise FetchError(
                    502, "fetch_failed", f"url: the host {target.host!r} cannot be resolved ({exc})"
                ) from None
            if not found:
                raise FetchError(502, "fetch_failed", f"url: the host {target.host!r} has no address")
        for ip in found:
            if (reason := self.check(ip)) is not None:
                shown = target.host if target.literal is None else target.url
                raise FetchError(
                    422,
                    "url_not_public",
                    f"url: {shown} leads to {ip}, a {reason} address; only public addresses are fetched",
                )
        return found

    async def _get(
        self, target: Target, addresses: list[IPAddress]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        url = httpcore.URL(
            scheme=target.scheme.encode(),
            host=target.host.encode(),
            port=target.port,
            target=target.target.encode(),
        )
        headers = [
            (b"Host", target.host_header.encode()),
            (b"User-Agent", USER_AGENT.encode()),
            (b"Accept", b"text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"),
            (b"Accept-Encoding", b"identity"),
            (b"Connection", b"close"),
        ]
        timeouts = {
            "connect": self.connect_timeout_s,
            "read": self.read_timeout_s,
            "write": self.read_timeout_s,
            "pool": self.connect_timeout_s,
        }
        backend = _PinnedBackend(target.host, addresses)
        try:
            async with httpcore.AsyncConnectionPool(
                network_backend=backend, ssl_context=self.ssl_context, max_connections=1, retries=0
            ) as pool:
                async with pool.stream("GET", url, headers=headers, extensions={"timeout": timeouts}) as resp:
                    if resp.status in _REDIRECTS:
                        return resp.status, list(resp.headers), b""
                    declared = _header(list(resp.headers), b"content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise self._too_large(target)
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_stream():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise self._too_large(target)
                        chunks.append(chunk)
                    return resp.status, list(resp.headers), b"".join(chunks)
        except (httpcore.ConnectTimeout, httpcore.ReadTimeout, httpcore.WriteTimeout, httpcore.PoolTimeout):
            raise FetchError(504, "fetch_timeout", f"url: {target.url} did not answer in time") from None
        except httpcore.ConnectError as exc:
            raise FetchError(
                502, "fetch_failed", f"url: cannot connect to {target.url} ({exc or 'refused'})"
            ) from None
        except (
            httpcore.ProtocolError,
            httpcore.NetworkError,
            httpcore.UnsupportedProtocol,
            ssl.SSLError,
        ) as exc:
            raise FetchError(
                502, "fetch_failed", f"url: {target.url} gave no valid HTTP answer ({exc})"
            ) from None

    def _too_large(self, target: Target) -> FetchError:
        return FetchError(
            422, "fetch_too_large", f"url: {target.url} is larger than {self.max_bytes:,} bytes"
        )
