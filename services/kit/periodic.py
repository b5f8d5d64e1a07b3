"""The one periodic loop: a step at once, then every `interval_s`, until stop — a failing step never ends it.

Used by the reaper's sweeps, the orchestrator's durable timers and the gauges refreshed from the
database. A step that raises is logged and tried again at the next tick (the database away, the
orchestrator not answering): the loop ends only when `stop` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def every(
    interval_s: float,
    stop: asyncio.Event,
    step: Callable[[], Awaitable[object]],
    *,
    what: str,
    log: logging.Logger,
    level: int = logging.WARNING,
) -> None:
    """Run `step()` now and then every `interval_s` seconds until `stop` is set; failures logged as `what`."""
    while not stop.is_set():
        try:
            await step()
        except Exception as exc:
            log.log(level, "%s failed: %s; again in %g s", what, exc, interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
