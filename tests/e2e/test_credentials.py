"""Credentials of a real `simswarm up` (issue: infrastructure without credentials): every secret it
writes is 0600, the services run as their own NATS users, and `/metrics` on the public port is closed
to users."""

from __future__ import annotations

import json
import stat
import time

import httpx

from services.kit.settings import nats_credentials_file, stack_file


def test_every_secret_of_the_home_is_private(platform):
    home = platform.home
    secrets = [
        home / "api-key",
        stack_file(home),
        nats_credentials_file(home),
        home / "s3-credentials.json",
        home / "secret",
        home / "metrics-token",
        home / "data" / "nats" / "auth.conf",
    ]
    if platform.stack is not None and platform.stack.s3 is not None:
        secrets.append(platform.stack.s3.data_dir / "s3-identities.json")
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in secrets}
    assert set(modes.values()) == {"0o600"}, modes
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 in (0, 0o011)  # 0700, or 0711 for pgserver as root
    # the services find their NATS passwords through a path, never in stack.json itself
    stack = json.loads(stack_file(home).read_text())
    passwords = json.loads(nats_credentials_file(home).read_text()).values()
    assert not [p for p in passwords if p in stack_file(home).read_text()]
    assert stack["nats_credentials_file"] == str(nats_credentials_file(home))
    assert stack["s3_access_key"] != "simswarm"


def test_every_service_runs_as_its_own_nats_user(platform):
    """The NATS monitor lists each connection with its user: one per service, no anonymous one.

    `Supervisor.start` waits for the gateway only, and a back-end service may still be importing when
    this runs first (CI saw the reporter not yet connected); tests that kill services share the
    platform too. So wait for every service to be connected (a deadline), then check the users."""
    assert platform.stack is not None and platform.stack.nats is not None
    services = ("orchestrator", "podmanager", "reporter", "graph", "gateway")
    deadline = time.monotonic() + 60
    while True:
        url = f"http://127.0.0.1:{platform.stack.nats.monitor_port}/connz?auth=1&limit=1024"
        connz = httpx.get(url).json()
        users = {c.get("name", ""): c.get("authorized_user", "") for c in connz["connections"]}
        by_name = {name.removeprefix("simswarm-"): user for name, user in users.items()}
        if all(s in by_name for s in services) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for service in services:
        assert by_name.get(service) == service, users
    assert "" not in users.values(), users


def test_metrics_are_closed_to_the_local_user_and_open_to_the_operator(platform):
    user_key = (platform.home / "api-key").read_text().strip()
    token = (platform.home / "metrics-token").read_text().strip()
    with httpx.Client(base_url=platform.api_url, timeout=10) as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": f"Bearer {user_key}"}).status_code == 401
        r = http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "simswarm_http_request_duration_seconds" in r.text
