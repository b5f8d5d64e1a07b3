"""What every route needs, wired once by the composition root (`app.py`) and read via `get_ctx`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
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

log = logging.getLogger(__name__)


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
    # work done after the answer (mails); a reference keeps each task alive until it ends
    background: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        from services.gateway.streams import StreamLimiter

        self.streams = StreamLimiter(self.settings)

    def after_answer(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` once the answer is on its way; the gateway finishes it before it stops."""
        task = asyncio.get_running_loop().create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def finish_background(self, grace_s: float) -> None:
        """At shutdown, before the connections close: wait up to `grace_s` for the work after answers
        (a mail being sent), then cancel what is left, saying so."""
        if not self.background:
            return
        _, late = await asyncio.wait(set(self.background), timeout=grace_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
            log.warning("stopped with %d mail(s) unsent after %.0f s", len(late), grace_s)


def get_ctx(request: Request) -> GatewayContext:
    """FastAPI dependency: the context the app's lifespan put on `app.state`."""
    ctx: GatewayContext | None = getattr(request.app.state, "ctx", None)
    if ctx is None:  # only if the lifespan never ran (a misconfigured test client)
        raise RuntimeError("gateway context missing: run the app with its lifespan")
    return ctx
