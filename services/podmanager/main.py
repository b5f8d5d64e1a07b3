"""Composition root of the pod manager: `serve(settings, stop)` wires the adapters and runs until stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.kit.bus import Bus
from services.kit.db import create_pool
from services.kit.objectstore import ObjectStore
from services.kit.settings import Settings
from services.podmanager.handlers import HANDLED, PodManager
from services.podmanager.pods_repo import PodRepository
from services.podmanager.providers import make_provider
from services.podmanager.reaper import Reaper

log = logging.getLogger(__name__)

DURABLE = "podmanager"


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Consume PodRequested, RunRequested and PodTeardownRequested; run the reaper; return on `stop`."""
    provider = make_provider(settings)
    bus = await Bus.connect(settings.nats_url, name="podmanager")
    pool = await create_pool(settings.database_url, max_size=4)
    manager: PodManager | None = None
    try:
        await bus.ensure_streams()
        store = ObjectStore(settings)
        await store.ensure_bucket()
        pods = PodRepository(pool)
        await pods.migrate()
        manager = PodManager(bus=bus, store=store, pods=pods, provider=provider, llm_url=settings.llm_url)
        # Runs are followed for hours with the message un-acked: ack_wait is kept alive by in_progress().
        consumer = await bus.consume(DURABLE, HANDLED, manager.handle, max_ack_pending=64, ack_wait=60.0,
                                     max_deliver=10)
        reaper = Reaper(bus=bus, provider=provider, pods=pods, lock=manager.lock)
        reaper_task = asyncio.create_task(reaper.run(stop), name="podmanager-reaper")
        log.info("podmanager serving with the %s provider", provider.name)
        await stop.wait()
        consumer.cancel()
        for task in (consumer, reaper_task):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    finally:
        await bus.close()
        if manager is not None:
            await manager.aclose()
        await provider.aclose()
        await pool.close()
