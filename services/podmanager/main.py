"""Composition root of the pod manager: `serve(settings, stop)` wires the adapters and runs until stop.

One durable consumer per kind of work (docs/adr/0004-podmanager-consumer-per-kind-of-work.md): runs are
followed for hours with their RunRequested un-acked, so they get their own consumer and slots, and
provisioning (which holds its message through the health wait) and teardown get theirs. A full set
of run slots can then never hold back a cancel's teardown or a new pod.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from services.kit.bus import Bus
from services.kit.db import create_pool
from services.kit.objectstore import ObjectStore
from services.kit.service import run_until_stopped
from services.kit.settings import Settings
from services.podmanager.handlers import PROVISIONING, RUNS, TEARDOWNS, PodManager
from services.podmanager.metrics import MeteredBus, refresh_pods_alive
from services.podmanager.pods_repo import PodRepository
from services.podmanager.providers import PodProvider, make_provider
from services.podmanager.reaper import Reaper

log = logging.getLogger(__name__)

DURABLE = "podmanager"


class PodManagerOptions(msgspec.Struct, kw_only=True):
    """Consumer names and slots; the defaults are production's. Tests use unique names and few slots.

    The run consumer keeps the historical durable name, so RunRequested messages un-acked by an older
    single-consumer pod manager are redelivered to it after an upgrade (re-attaching to their runs).
    """

    durable: str = (
        DURABLE  # runs: `<durable>`; provisioning: `<durable>-provision`; teardown: `<durable>-teardown`
    )
    deliver_new: bool = False  # brand-new consumers start at the stream's end (tests)
    max_runs: int = 64  # runs followed at once; more RunRequested wait on the stream
    max_provisioning: int = 32  # pods provisioned and waited healthy at once
    max_teardowns: int = 16
    reaper: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> PodManagerOptions:
        """The defaults, with the run slots of `settings.podmanager_max_runs` (SIMSWARM_PODMANAGER_MAX_RUNS)."""
        return cls(max_runs=settings.podmanager_max_runs)


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    options: PodManagerOptions | None = None,
    *,
    provider: PodProvider | None = None,
) -> None:
    """Consume PodRequested, RunRequested and PodTeardownRequested (one consumer each); run the reaper.

    `provider` replaces the one `settings.pod_provider` names (tests pass a local provider whose
    worker they script). Returns when `stop` is set or a consumer dies.
    """
    opts = options or PodManagerOptions.from_settings(settings)
    provider = provider or make_provider(settings)
    bus = await Bus.connect(settings.nats_url, name="podmanager", login=settings.nats_login("podmanager"))
    pool = await create_pool(settings.database_url, max_size=6)
    manager: PodManager | None = None
    store: ObjectStore | None = None
    try:
        await bus.ensure_streams(settings.stream_replicas)
        store = ObjectStore(settings)
        await store.ensure_bucket()
        pods = PodRepository(pool)
        await pods.migrate()
        manager = PodManager(
            bus=MeteredBus(bus, provider.name),
            store=store,
            pods=pods,
            provider=provider,
            llm_url=settings.llm_url,
        )
        # Every consumer's messages are kept alive by in_progress() while their work goes on.
        # One consumer per kind of work, each with its own slots (docs/adr/0004-podmanager-consumer-per-kind-of-work.md).
        kinds = (
            (opts.durable, RUNS, opts.max_runs),
            (f"{opts.durable}-provision", PROVISIONING, opts.max_provisioning),
            (f"{opts.durable}-teardown", TEARDOWNS, opts.max_teardowns),
        )
        consumers = [
            await bus.consume(
                durable,
                subjects,
                manager.handle,
                max_ack_pending=slots,
                max_deliver=10,
                deliver_new=opts.deliver_new,
            )
            for durable, subjects, slots in kinds
        ]
        tasks = list(consumers)
        tasks.append(
            asyncio.create_task(refresh_pods_alive(pool, stop, provider.name), name="podmanager-pods-alive")
        )
        if opts.reaper:
            reaper = Reaper(bus=bus, provider=provider, pods=pods, lock=manager.lock)
            tasks.append(asyncio.create_task(reaper.run(stop), name="podmanager-reaper"))
        log.info("podmanager serving with the %s provider (%d run slots)", provider.name, opts.max_runs)
        await run_until_stopped(stop, *tasks)
    finally:
        await bus.close()
        if manager is not None:
            await manager.aclose()
        if store is not None:
            await store.close()
        await provider.aclose()
        await pool.close()
