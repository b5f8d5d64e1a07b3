"""Rate limits on the real servers: login/register/job creation hammered per address and per account,
two gateway replicas sharing one limit through Postgres, and X-Forwarded-For trusted only from
configured proxies (the attack: any local client claiming any address to dodge a per-address limit).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from services.gateway.app import create_app
from tests.integration.gateway.conftest import served_gateway

pytestmark = pytest.mark.integration

# Long periods: the bucket does not refill during a test, however slow the machine is.
PASSWORD = "correct horse battery"
SPEC = {
    "seed_text": "The central bank meets on Thursday.",
    "goal": "Will the bank cut rates?",
    "tier": "small",
    "policy": "heuristic",
}


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


async def _wrong_login(client: httpx.AsyncClient, forwarded_for: str | None = None) -> httpx.Response:
    """A login attempt that fails (401) unless limited: a fresh address, a wrong password; with
    `forwarded_for` as the X-Forwarded-For a proxy would add."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    body = {"email": _email(), "password": "x" * 8}
    return await client.post("/api/auth/login", json=body, headers=headers)


def _assert_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1


@asynccontextmanager
async def _replicas(
    settings: Any,
    bus: Any,
    store: Any,
    pg_pool: Any,
    n: int,
    client: tuple[str, int] = ("203.0.113.7", 40000),
    gschema: str | None = None,
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`n` gateway app instances over one database schema (as replicas behind a balancer would be)."""
    gschema, pschema = gschema or f"gw_{uuid.uuid4().hex[:10]}", f"proj_{uuid.uuid4().hex[:10]}"
    apps = [
        create_app(
            settings, bus=bus, store=store, pool=pg_pool, gateway_schema=gschema, projection_schema=pschema
        )
        for _ in range(n)
    ]
    try:
        async with asynccontextmanager_all(apps) as _:
            clients = [
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=a, client=client),
                    base_url="http://gateway.test",
                    timeout=30,
                )
                for a in apps
            ]
            try:
                yield clients
            finally:
                for c in clients:
                    await c.aclose()
    finally:
        await pg_pool.execute(f"DROP SCHEMA IF EXISTS {gschema} CASCADE")


@asynccontextmanager
async def asynccontextmanager_all(apps: list[Any]) -> AsyncIterator[None]:
    if not apps:
        yield
        return
    async with apps[0].router.lifespan_context(apps[0]), asynccontextmanager_all(apps[1:]):
        yield


async def test_login_is_limited_per_address(settings, bus, store, pg_pool):
    settings.rate_limits = "login_ip=4/3600,login_account=100/3600"
    gschema = f"gw_{uuid.uuid4().hex[:10]}"
    async with _replicas(settings, bus, store, pg_pool, 1, gschema=gschema) as [c]:
        for _ in range(4):  # guesses at four different accounts: the per-account limit never bites
            assert (await _wrong_login(c)).status_code == 401
        r = await _wrong_login(c)
        _assert_limited(r)
        first_wait = int(r.headers["retry-after"])
        assert first_wait <= 900  # one attempt comes back every 3600/4 s
        # Hammering does not push the wait further out.
        for _ in range(3):
            r = await _wrong_login(c)
            _assert_limited(r)
            assert int(r.headers["retry-after"]) <= first_wait
        # 900 s later (the bucket moved back in the database: tests do not wait on the clock) one
        # more attempt is let through, and only one.
        await pg_pool.execute(
            f"UPDATE {gschema}.rate_limits SET tat = tat - 900 WHERE key = 'login_ip:203.0.113.7'"
        )
        assert (await _wrong_login(c)).status_code == 401
        _assert_limited(await _wrong_login(c))


async def test_login_is_limited_per_account_across_addresses(settings, bus, store, pg_pool):
    settings.rate_limits = "login_ip=100/3600,login_account=3/3600"
    gschema = f"gw_{uuid.uuid4().hex[:10]}"
    app = create_app(
        settings, bus=bus, store=store, pool=pg_pool, gateway_schema=gschema, projection_schema="projections"
    )
    victim, other = _email(), _email()
    try:
        async with app.router.lifespan_context(app):

            def client(addr: str) -> httpx.AsyncClient:
                return httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app, client=(addr, 5000)),
                    base_url="http://gateway.test",
                    timeout=30,
                )

            async with client("198.51.100.1") as first:
                for email in (victim, other):
                    assert (
                        await first.post("/api/auth/register", json={"email": email, "password": PASSWORD})
                    ).status_code == 201
            for i in range(3):  # a guesser spreading its attempts over many addresses
                async with client(f"198.51.100.{10 + i}") as c:
                    r = await c.post("/api/auth/login", json={"email": victim, "password": f"guess-{i}-xxxx"})
                    assert r.status_code == 401
            async with client("198.51.100.99") as c:
                # the account is limited whatever the case of the address and the client's address
                _assert_limited(
                    await c.post("/api/auth/login", json={"email": victim.upper(), "password": "guess"})
                )
                # another account is not
                r = await c.post("/api/auth/login", json={"email": other, "password": PASSWORD})
                assert r.status_code == 200, r.text
    finally:
        await pg_pool.execute(f"DROP SCHEMA IF EXISTS {gschema} CASCADE")


async def test_register_is_limited_per_address(settings, bus, store, pg_pool):
    settings.rate_limits = "register_ip=3/3600"
    async with _replicas(settings, bus, store, pg_pool, 1) as [c]:
        for _ in range(3):
            assert (
                await c.post("/api/auth/register", json={"email": _email(), "password": PASSWORD})
            ).status_code == 201
        _assert_limited(await c.post("/api/auth/register", json={"email": _email(), "password": PASSWORD}))


async def test_two_replicas_enforce_one_shared_limit(settings, bus, store, pg_pool):
    settings.rate_limits = "login_ip=4/3600,login_account=100/3600"
    async with _replicas(settings, bus, store, pg_pool, 2) as [a, b]:
        for c in (a, b, a, b):
            assert (await _wrong_login(c)).status_code == 401
        # Each replica has seen only two attempts; the limit of four is shared, so both refuse now.
        _assert_limited(await _wrong_login(a))
        _assert_limited(await _wrong_login(b))


async def test_concurrent_attempts_do_not_overshoot_the_limit(settings, bus, store, pg_pool):
    settings.rate_limits = "register_ip=5/3600"
    async with _replicas(settings, bus, store, pg_pool, 2) as [a, b]:
        rs = await asyncio.gather(
            *[
                (a if i % 2 else b).post("/api/auth/register", json={"email": _email(), "password": PASSWORD})
                for i in range(12)
            ]
        )
    codes = sorted(r.status_code for r in rs)
    assert codes == [201] * 5 + [429] * 7, codes


async def test_job_creation_is_limited_per_user(gw):
    gw.app.state.ctx.settings.rate_limits = "jobs_user=2/3600"  # read on each request
    for i in range(2):
        r = await gw.client.post(
            "/api/jobs", json={**SPEC, "goal": f"Will it happen {i}?"}, headers=gw.as_alice
        )
        assert r.status_code == 201, r.text
    _assert_limited(
        await gw.client.post("/api/jobs", json={**SPEC, "goal": "One more?"}, headers=gw.as_alice)
    )
    r = await gw.client.post("/api/jobs", json=SPEC, headers=gw.as_bob)  # another user is not limited
    assert r.status_code == 201, r.text


async def test_defaults_leave_normal_local_use_alone(gw):
    """The local user of `simswarm up` (one address, one key) creating jobs at a human pace."""
    for i in range(15):
        r = await gw.client.post("/api/jobs", json={**SPEC, "goal": f"Question {i}?"}, headers=gw.as_alice)
        assert r.status_code == 201, r.text


# -- X-Forwarded-For: trusted only from configured proxies -------------------------------------


@asynccontextmanager
async def _served(settings: Any, pg_pool: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway served by uvicorn exactly as `simswarm serve gateway` does, on a free port."""
    async with served_gateway(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        # The served app uses the real `gateway` schema: start from fresh log-in buckets, and
        # leave none behind for later tests that log in through the same schema.
        await pg_pool.execute("DELETE FROM gateway.rate_limits WHERE key LIKE 'login%'")
        yield client
        await pg_pool.execute("DELETE FROM gateway.rate_limits WHERE key LIKE 'login%'")


async def test_spoofed_forwarded_for_does_not_change_the_rate_limit_key(settings, pg_pool):
    settings.rate_limits = "login_ip=3/3600,login_account=100/3600"
    settings.trusted_proxies = ""  # the default: nobody is trusted, not even localhost
    async with _served(settings, pg_pool) as client:
        for i in range(3):
            r = await _wrong_login(client, f"192.0.2.{i + 1}")
            assert r.status_code == 401, r.text
        _assert_limited(await _wrong_login(client, "192.0.2.200"))
        keys = {row["key"] for row in await pg_pool.fetch("SELECT key FROM gateway.rate_limits")}
        assert "login_ip:127.0.0.1" in keys and not any("192.0.2." in k for k in keys), keys


async def test_forwarded_for_is_used_from_a_trusted_proxy(settings, pg_pool):
    settings.rate_limits = "login_ip=3/3600,login_account=100/3600"
    settings.trusted_proxies = "127.0.0.1"  # a reverse proxy on this host
    async with _served(settings, pg_pool) as client:
        for i in range(5):  # five clients behind the proxy: each has a bucket of its own
            r = await _wrong_login(client, f"192.0.2.{i + 1}")
            assert r.status_code == 401, r.text
        for _ in range(2):  # 192.0.2.1 uses up its three
            r = await _wrong_login(client, "192.0.2.1")
            assert r.status_code == 401, r.text
        _assert_limited(await _wrong_login(client, "192.0.2.1"))
        # A client cannot prepend its own claim: the proxy appends the real address last.
        _assert_limited(await _wrong_login(client, "10.9.9.9, 192.0.2.1"))
