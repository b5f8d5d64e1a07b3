"""Running one service as a process: logging, tracing, metrics endpoint, signals, a stop event, a clean exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from services.kit.logs import setup_logging
from services.kit.metrics import start_metrics_server
from services.kit.settings import Settings, load_settings
from services.kit.telemetry import setup_tracing, shutdown_tracing

ServeFn = Callable[[Settings, asyncio.Event], Awaitable[None]]
# The gateway serves its metrics at its own /metrics route (behind the operator token), not a port.
_OWN_METRICS_ROUTE = frozenset({"gateway"})

__all__ = ["ServeFn", "ServiceTaskEnded", "run_service", "run_until_stopped", "setup_logging"]


async def _main(name: str, serve: ServeFn, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop)


def run_service(name: str, serve: ServeFn, settings: Settings | None = None) -> int:
    """Run `serve(settings, stop)` until SIGINT/SIGTERM; returns the process exit code."""
    settings = settings or load_settings()
    setup_logging(settings.log_level, name)
    setup_tracing(name)
    log = logging.getLogger(f"simswarm.{name}")
    log.info("starting")
    try:
        if name not in _OWN_METRICS_ROUTE:
            start_metrics_server(settings.metrics_port, settings.metrics_host)
        asyncio.run(_main(name, serve, settings))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        log.error("stopped on an error: %s", exc, exc_info=True)
        return 1
    finally:
        shutdown_tracing()  # flush the last spans
    log.info("stopped")
    return 0


class ServiceTaskEnded(RuntimeError):
    """A task the service cannot work without (a consumer, a relay) ended before the service was stopped."""


async def run_until_stopped(stop: asyncio.Event, *tasks: asyncio.Task[Any]) -> None:
    """Wait until `stop` is set or one of `tasks` ends, then cancel them all.

    A task that ends first (a consumer whose subscription is gone, a loop that raised) leaves the
    service deaf: rather than carry on quietly, raise ServiceTaskEnded naming it, so `run_service`
    exits non-zero and the supervisor (or the orchestrator of containers) restarts the process.
    """
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({*tasks, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    ended = [t for t in tasks if t in done] if not stop.is_set() else []
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task
    if ended:
        task = ended[0]
        why = (
            "was cancelled"
            if task.cancelled()
            else (f"failed: {task.exception()!r}" if task.exception() is not None else "returned")
        )
        raise ServiceTaskEnded(f"{task.get_name()} ended while the service was running ({why})")
