"""Rate-limit and trusted-proxy settings: parsing, clear errors, and how a client address is keyed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.gateway.app import create_app
from services.gateway.ratelimit import (
    DEFAULT_LIMITS,
    RateLimit,
    client_address,
    parse_limits,
    parse_trusted_proxies,
)
from services.kit.settings import SettingsError, load_settings


def test_overrides_replace_only_the_named_limits():
    limits = parse_limits(" login_ip=5/60 , jobs_user=off,")
    assert limits["login_ip"] == RateLimit(5, 60.0)
    assert limits["jobs_user"] is None
    assert limits["register_ip"] == DEFAULT_LIMITS["register_ip"]
    assert parse_limits("") == DEFAULT_LIMITS


@pytest.mark.parametrize(
    "spec",
    [
        "login=5/60",
        "login_ip",
        "login_ip=5",
        "login_ip=0/60",
        "login_ip=5/0",
        "login_ip=five/60",
        "login_ip=5/99999999",
    ],
)
def test_a_bad_limit_names_itself(spec):
    with pytest.raises(SettingsError, match="rate_limits: 'login"):
        parse_limits(spec)


def test_trusted_proxies_accept_addresses_networks_and_star():
    assert parse_trusted_proxies("") == []
    assert parse_trusted_proxies("10.0.0.0/8, 127.0.0.1,::1,*") == ["10.0.0.0/8", "127.0.0.1", "::1", "*"]
    with pytest.raises(SettingsError, match="trusted_proxies: 'proxy.local'"):
        parse_trusted_proxies("10.0.0.1,proxy.local")


def test_settings_come_from_the_environment(tmp_path):
    s = load_settings(
        {
            "SIMSWARM_HOME": str(tmp_path),
            "SIMSWARM_RATE_LIMITS": "login_ip=3/60",
            "SIMSWARM_TRUSTED_PROXIES": "10.1.2.3",
        }
    )
    assert (s.rate_limits, s.trusted_proxies) == ("login_ip=3/60", "10.1.2.3")
    assert load_settings({"SIMSWARM_HOME": str(tmp_path)}).trusted_proxies == ""  # nobody trusted by default


def _request(host: str | None) -> Any:
    return SimpleNamespace(client=SimpleNamespace(host=host) if host is not None else None)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one host owns a /64: rotating in it does not help
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, "unknown"),
    ],
)
def test_client_address_keys(host, key):
    assert client_address(_request(host)) == key


@pytest.mark.parametrize(
    ("field", "value"), [("rate_limits", "login_ip=lots"), ("trusted_proxies", "my-proxy")]
)
def test_the_app_refuses_to_start_with_a_bad_setting(tmp_path, field, value):
    settings = load_settings({"SIMSWARM_HOME": str(tmp_path)})
    setattr(settings, field, value)
    with pytest.raises(SettingsError, match=field):
        create_app(settings)
