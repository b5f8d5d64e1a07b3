"""`simswarm serve gateway`: run the app under uvicorn until `stop` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn

from services.gateway.app import create_app
from services.kit.settings import Settings

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Leaves signal handling to the service runner, which sets `stop`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve the REST API on settings.gateway_host:gateway_port until `stop` is set."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        lifespan="on",
        # X-Forwarded-For is honoured by the app itself, only from `trusted_proxies` (create_app);
        # uvicorn's own handling would trust any local peer.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    server_task = asyncio.create_task(server.serve(), name="gateway-uvicorn")
    stop_task = asyncio.create_task(stop.wait(), name="gateway-stop")
    try:
        await asyncio.wait({server_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stop_task.cancel()
        await server_task
    if not server.started and not stop.is_set():
        raise RuntimeError(f"the gateway could not start on {settings.gateway_host}:{settings.gateway_port}")
