"""Rate limits shared by every gateway replica: GCRA buckets kept in Postgres, one UPSERT per check.

Why not a library: the well-kept ones (`limits`, `slowapi`) keep state in process memory, Redis,
Memcached or MongoDB; none in Postgres, which is the store every replica already shares. GCRA
(the generic cell rate algorithm) needs one number per key, the theoretical arrival time `tat`, so
a check is a single atomic `INSERT ... ON CONFLICT DO UPDATE`: concurrent checks on one key queue
on its row lock and can never overshoot, and the database clock is the only clock.

A limit `N/P` lets a client make N requests at once and then one every P/N seconds.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.gateway.schema import check_ident
from services.kit.settings import SettingsError

if TYPE_CHECKING:
    import asyncpg
    from fastapi import Request

    from services.kit.settings import Settings


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` requests at once, refilled at `count` per `period_s` seconds."""

    count: int
    period_s: float

    @property
    def interval_s(self) -> float:
        return self.period_s / self.count

    def __str__(self) -> str:
        return f"{self.count}/{self.period_s:g}"


# Names a route asks for; the defaults bound abuse without slowing a person (or `simswarm up`).
DEFAULT_LIMITS: dict[str, RateLimit | None] = {
    "login_ip": RateLimit(30, 300),  # log-in attempts per client address
    "login_account": RateLimit(10, 300),  # log-in (and password-change) attempts per account
    "register_ip": RateLimit(10, 3600),  # new accounts per client address
    "jobs_user": RateLimit(60, 60),  # job creations per user
    "fetch_user": RateLimit(30, 60),  # server-side fetches per user (POST /api/fetch)
    "fetch_ip": RateLimit(60, 60),  # server-side fetches per client address
    "share_ip": RateLimit(120, 60),  # public share/demo/config reads per client address
    "mail_ip": RateLimit(10, 600),  # verification and password-reset mails asked for, per client address
    "mail_account": RateLimit(3, 600),  # the same, per account (the address that receives them)
    "token_ip": RateLimit(30, 600),  # e-mail tokens presented (verify, reset), per client address
}
CLEANUP_EVERY_S = 300.0


def parse_limits(spec: str) -> dict[str, RateLimit | None]:
    """The defaults overridden by `spec`: `"login_ip=30/300,jobs_user=off"` (`off` disables one).

    Raises SettingsError naming the bad entry.
    """
    limits = dict(DEFAULT_LIMITS)
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = (p.strip() for p in item.partition("="))
        if not sep or name not in DEFAULT_LIMITS:
            raise SettingsError(
                f"rate_limits: {item!r} is not NAME=COUNT/SECONDS with NAME one of {', '.join(DEFAULT_LIMITS)}"
            )
        if value.lower() == "off":
            limits[name] = None
            continue
        count, slash, period = value.partition("/")
        try:
            limit = RateLimit(int(count), float(period)) if slash else None
        except ValueError:
            limit = None
        if limit is None or limit.count < 1 or not 0 < limit.period_s <= 86400 * 30:
            raise SettingsError(
                f"rate_limits: {item!r} needs COUNT ≥ 1 and 0 < SECONDS ≤ 2592000, e.g. {name}=30/300, or 'off'"
            )
        limits[name] = limit
    return limits


def parse_trusted_proxies(spec: str) -> list[str]:
    """Addresses/networks whose X-Forwarded-For is believed; `*` trusts every peer. SettingsError if bad."""
    entries = [p.strip() for p in spec.split(",") if p.strip()]
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(
                f"trusted_proxies: {entry!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    return entries


def client_address(request: Request) -> str:
    """The caller's address as the rate limits see it: the TCP peer, or what a trusted proxy says.

    The ASGI `client` is rewritten from X-Forwarded-For only by the proxy middleware, and only for
    peers in `trusted_proxies`. IPv6 clients are keyed by their /64: one host usually owns a whole
    /64 and could otherwise rotate through it.
    """
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:100] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip)


@dataclass(eq=False)  # eq=False keeps it hashable, as an exception should be
class RateLimited(Exception):
    """A request over the limit `name`; `retry_after_s` is when the next one will be let through."""

    name: str
    retry_after_s: int


class RateLimiter:
    """GCRA buckets in `<schema>.rate_limits`, keyed `name:subject`; limits read from the settings."""

    def __init__(self, pool: asyncpg.Pool, schema: str, settings: Settings) -> None:
        self.pool = pool
        self.s = check_ident(schema)
        self.settings = settings
        self._spec = settings.rate_limits
        self._limits = parse_limits(self._spec)
        self._last_cleanup = time.monotonic()

    def limit(self, name: str) -> RateLimit | None:
        """The limit in force for `name` (re-read when the setting changed), None when off."""
        if self.settings.rate_limits != self._spec:
            self._limits = parse_limits(self.settings.rate_limits)
            self._spec = self.settings.rate_limits
        return self._limits[name]

    async def hit(self, name: str, subject: str) -> None:
        """Count one request against `name` for `subject`; RateLimited when over the limit."""
        limit = self.limit(name)
        if limit is None:
            return
        # A key is allowed while its arrival time stays within one period of now; a refused
        # request does not move it (so hammering does not extend the wait).
        row = await self.pool.fetchrow(
            f"""INSERT INTO {self.s}.rate_limits AS r (key, tat, seen, allowed)
                SELECT $1, n.t + $2, n.t, true
                  FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS t) n
                ON CONFLICT (key) DO UPDATE SET
                  allowed = greatest(r.tat, EXCLUDED.seen) + $2 - EXCLUDED.seen <= $3,
                  tat = CASE WHEN greatest(r.tat, EXCLUDED.seen) + $2 - EXCLUDED.seen <= $3
                             THEN greatest(r.tat, EXCLUDED.seen) + $2 ELSE r.tat END,
                  seen = EXCLUDED.seen
                RETURNING allowed, tat, seen""",
            f"{name}:{subject}"[:300],
            limit.interval_s,
            limit.period_s + 1e-6,
        )
        assert row is not None
        await self._cleanup_now_and_then()
        if not row["allowed"]:
            wait = row["tat"] + limit.interval_s - row["seen"] - limit.period_s
            raise RateLimited(name, max(1, math.ceil(wait)))

    async def _cleanup_now_and_then(self) -> None:
        """Drop buckets that have refilled completely (the same as absent) every few minutes."""
        if time.monotonic() - self._last_cleanup < CLEANUP_EVERY_S:
            return
        self._last_cleanup = time.monotonic()
        await self.pool.execute(
            f"DELETE FROM {self.s}.rate_limits WHERE tat < extract(epoch FROM clock_timestamp())"
        )
