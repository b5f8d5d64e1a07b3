"""What every route needs, wired once by the composition root (`app.py`) and read via `get_ctx`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

if TYPE_CHECKING:
    import asyncpg

    from services.gateway.accounts import Accounts
    from services.gateway.jobs_store import JobsStore
    from services.gateway.metrics import Metrics
    from services.gateway.ratelimit import RateLimiter
    from services.gateway.streams import StreamLimiter
    from services.kit.settings import Settings


@dataclass
class GatewayContext:
    settings: Settings
    bus: Any  # services.kit.bus.Bus
    store: Any  # services.kit.objectstore.ObjectStore
    pool: asyncpg.Pool
    accounts: Accounts
    jobs: JobsStore
    metrics: Metrics
    limiter: RateLimiter
    sse_ping_s: float = 15.0
    presign_expires_s: int = 900
    command_timeout_s: float = 10.0
    extra: dict[str, Any] = field(default_factory=dict)
    streams: StreamLimiter = field(init=False)  # open SSE streams, capped by the settings

    def __post_init__(self) -> None:
        from services.gateway.streams import StreamLimiter

        self.streams = StreamLimiter(self.settings)


def get_ctx(request: Request) -> GatewayContext:
    """FastAPI dependency: the context the app's lifespan put on `app.state`."""
    ctx: GatewayContext | None = getattr(request.app.state, "ctx", None)
    if ctx is None:  # only if the lifespan never ran (a misconfigured test client)
        raise RuntimeError("gateway context missing: run the app with its lifespan")
    return ctx
