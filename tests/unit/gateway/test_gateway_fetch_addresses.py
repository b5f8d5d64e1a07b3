"""The fetch helper's address rules (services/gateway/fetcher.py): which addresses count as public,
how every spelling of an IP literal is decoded before any resolver is asked, and URL shapes."""

from __future__ import annotations

import ipaddress

import pytest

from services.gateway.fetcher import FetchError, literal_address, non_public_reason, parse_target
from services.gateway.pagetext import clean, html_to_text

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "192.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "fec0::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::127.0.0.1",
    "::10.0.0.1",  # IPv4-compatible
    "2002:7f00:1::",
    "2002:a00:1::1",
    "2002:a9fe:a9fe::",  # 6to4 of loopback, private, link-local
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1 (obfuscated)
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",  # NAT64 of loopback, private
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81c::200e",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f000001", "127.0.0.1"),  # hex
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # shortened
        ("0", "0.0.0.0"),
        ("017700000001", "127.0.0.1"),
        ("3232235777", "192.168.1.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("::ffff:7f00:1", "::ffff:7f00:1"),
    ],
)
def test_every_spelling_of_an_ip_literal_is_decoded(host: str, expected: str) -> None:
    ip = literal_address(host)
    assert ip == ipaddress.ip_address(expected)
    assert non_public_reason(ip) is not None


@pytest.mark.parametrize("host", ["example.com", "cafe.be", "deadbeef", "a.b.c.d"])
def test_names_are_not_taken_for_literals(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://example.com/", "scheme 'gopher'"),
        ("ftp://example.com/x", "scheme 'ftp'"),
        ("//example.com/", "scheme '(none)'"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://example.com:0/", "port 0"),
        ("http:///path", "no host"),
        ("http://exa mple.com/", "spaces"),
        ("http://[fe80::1%25eth0]/", "not a valid host"),
        ("http://%31%32%37.0.0.1/", "not a valid host"),
        ("http://" + "a" * 2100 + ".com/", "the limit is 2,048"),
    ],
)
def test_bad_urls_are_refused_naming_the_problem(url: str, needle: str) -> None:
    with pytest.raises(FetchError) as err:
        parse_target(url)
    assert err.value.status == 422 and err.value.code == "invalid_url"
    assert err.value.detail.startswith("url: ") and needle in err.value.detail


def test_targets_keep_the_name_for_host_and_sni() -> None:
    t = parse_target("https://Example.COM/a/b?q=1#frag")
    assert (t.scheme, t.host, t.port, t.target, t.literal) == ("https", "example.com", 443, "/a/b?q=1", None)
    assert t.host_header == "example.com"
    t = parse_target("http://[::ffff:127.0.0.1]:8080/")
    assert t.literal == ipaddress.ip_address("::ffff:127.0.0.1") and t.host_header == "[::ffff:7f00:1]:8080"
    assert parse_target("http://bücher.example/").host == "xn--bcher-kva.example"


def test_html_becomes_readable_text_without_scripts_or_navigation() -> None:
    html = (
        "<html><head><title>Storm</title><style>p{}</style><script>alert(1)</script></head><body>"
        "<nav>Home | News</nav><main><h1>Storm hits coast</h1><p>Winds of <b>120 km/h</b>.</p></main>"
        "<footer>(c) paper</footer></body></html>"
    )
    text, title = html_to_text(html)
    assert title == "Storm"
    assert "Storm hits coast" in text and "120 km/h" in text
    assert "alert" not in text and "Home" not in text and "(c) paper" not in text


def test_cleaning_removes_control_characters_and_blank_runs() -> None:
    assert clean("a\x00b\x1b[31m\r\n\n\n\nc\u00a0 d") == "a b [31m\n\nc d"
