"""Composition root of the orchestrator: wires the application, relay, projection, consumer, commands
and timers; returns cleanly when `stop` is set. Kill it at any moment and restart: the relay resumes
from its recorded position, the inbox recognises redeliveries, timers live in the aggregates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

import msgspec
from eventsourcing.utils import get_topic

from contracts.events import RunProgressed
from contracts.subjects import CMD_ORCHESTRATOR_HEALTH, ORCHESTRATOR_QUEUE
from services.kit.bus import Bus
from services.kit.db import create_pool, eventsourcing_env, migrate, schema_lock
from services.kit.service import run_until_stopped
from services.kit.settings import Settings
from services.orchestrator import partitions
from services.orchestrator.application import OrchestratorApplication, SetAside
from services.orchestrator.commands import CommandHandlers
from services.orchestrator.health import PipelineHealth
from services.orchestrator.inbound import InboundHandler, run_timers
from services.orchestrator.job_metrics import refresh_job_counts
from services.orchestrator.process_manager import INBOUND_EVENT_TYPES
from services.orchestrator.projection import JobsProjection
from services.orchestrator.quarantine import Quarantined
from services.orchestrator.relay import Relay
from services.orchestrator.store import BatchingProcessRecorder

log = logging.getLogger(__name__)


PROGRESS_IN_FLIGHT = 32
# Worker threads besides one per partition: commands, relay, projection, timers, failing set-aside jobs.
SPARE_THREADS = 8


def progress_consumer(consumer: str) -> str:
    """The durable consumer of RunProgressed (telemetry for the rows), beside the saga's."""
    return f"{consumer}-progress"


class OrchestratorOptions(msgspec.Struct, kw_only=True):
    """Names and intervals; the defaults are production's. Tests use unique schemas and consumer names."""

    es_schema: str = "orchestrator"
    projections_schema: str = "projections"
    consumer: str = "orchestrator"
    command_queue: str = ORCHESTRATOR_QUEUE
    serve_commands: bool = True
    deliver_new: bool = False  # a brand-new consumer starts at the stream's end (tests), not its start
    relay_poll_s: float = 1.0
    projection_poll_s: float = 1.0
    timer_interval_s: float = 10.0
    # /api/ready says "not ready" once the relay or projection has not completed a pass for this long,
    # or a command or inbound event has been in progress for this long (services.orchestrator.health).
    health_stale_s: float = 30.0
    pool_size: int = 4
    # Inbound events partitioned by job id (services.orchestrator.partitions), one consumer each,
    # shared by replicas; 0: one consumer over the job stream, every job's events in one line.
    # `simswarm serve orchestrator` takes settings.orchestrator_partitions.
    partitions: int = 0


def create_application(
    database_url: str, schema: str = "orchestrator", pool_size: int = 4
) -> OrchestratorApplication:
    """The event store in `schema` (which must exist: see `open_application`)."""
    env = eventsourcing_env(database_url, prefix=OrchestratorApplication.name, schema=schema)
    env.update({"POSTGRES_POOL_SIZE": str(pool_size), "POSTGRES_MAX_OVERFLOW": str(pool_size)})
    # saves of several jobs in one transaction (services.orchestrator.store)
    env["PROCESS_RECORDER_TOPIC"] = get_topic(BatchingProcessRecorder)
    return OrchestratorApplication(env)


async def open_application(
    database_url: str, pool: object, schema: str = "orchestrator", pool_size: int = 4
) -> OrchestratorApplication:
    """Create the schema, then the application; replicas starting at once create its tables in turn
    (tests/integration/orchestrator/test_orchestrator_startup.py)."""
    await migrate(pool, schema, [])  # type: ignore[arg-type]
    async with schema_lock(pool, schema):  # type: ignore[arg-type]
        return await asyncio.to_thread(create_application, database_url, schema, pool_size)


async def serve(settings: Settings, stop: asyncio.Event, options: OrchestratorOptions | None = None) -> None:
    """Run the orchestrator until `stop` is set."""
    opts = options or OrchestratorOptions(partitions=settings.orchestrator_partitions)
    # The event store is synchronous, so every call to it runs on a worker thread (asyncio.to_thread):
    # enough threads for every partition at once. The default (CPUs + 4: 6 on two cores) left events
    # waiting for a thread while others waited for their turn to save (p99 135 ms at 50 jobs).
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(opts.partitions + SPARE_THREADS, thread_name_prefix="orchestrator")
    )
    pool = await create_pool(settings.database_url, max_size=opts.pool_size + 2)
    bus = await Bus.connect(settings.nats_url, name=opts.consumer, login=settings.nats_login("orchestrator"))
    app = await open_application(settings.database_url, pool, opts.es_schema, opts.pool_size)
    tasks: list[asyncio.Task[None]] = []
    try:
        await bus.ensure_streams(settings.stream_replicas)

        def on_saved() -> None:
            relay.wake()
            projection.wake()

        async def fail(job_id: str, reason: str, stage: str) -> None:
            """Fail a job whose record or event had to be set aside (no-op once it is finishing)."""
            try:
                result = await asyncio.to_thread(app.fail_job, job_id, reason, stage)
            except Exception as exc:  # e.g. a job whose own events cannot be loaded: it stays quarantined
                log.error("job %s could not be failed after being set aside: %s", job_id, exc)
                return
            if result.changed:
                log.warning("job %s failed: %s", job_id, reason)
                on_saved()

        async def on_quarantine(items: list[Quarantined]) -> None:
            for item in items:
                await fail(item.job_id, item.reason, "record")

        async def on_set_aside(item: SetAside) -> None:
            await fail(item.job_id, f"its {item.name} event could not be published: {item.reason}", "publish")

        relay = Relay(
            app,
            bus,
            pool=pool,
            schema=opts.es_schema,
            poll_interval=opts.relay_poll_s,
            on_set_aside=on_set_aside,
        )
        projection = JobsProjection(
            app,
            pool=pool,
            schema=opts.projections_schema,
            poll_interval=opts.projection_poll_s,
            on_quarantine=on_quarantine,
        )
        await relay.migrate()
        await projection.migrate()

        async def last_progress(job_id: str) -> RunProgressed | None:
            event = await bus.last_event(job_id, "RunProgressed")
            return event if isinstance(event, RunProgressed) else None

        health = PipelineHealth(
            {"relay": relay, "projection": projection},
            stale_after_s=opts.health_stale_s,
            work_limit_s=opts.health_stale_s,
        )
        tasks.append(asyncio.create_task(relay.run(stop), name="orchestrator:relay"))
        tasks.append(asyncio.create_task(projection.run(stop), name="orchestrator:projection"))
        tasks.append(
            asyncio.create_task(
                run_timers(app, projection, stop, on_saved, opts.timer_interval_s, last_progress),
                name="orchestrator:timers",
            )
        )
        tasks.append(
            asyncio.create_task(
                refresh_job_counts(pool, opts.projections_schema, stop), name="orchestrator:job-metrics"
            )
        )
        await projection.catch_up()  # replies must be able to read back their writes from the start
        if opts.serve_commands:
            handlers = CommandHandlers(app, projection, tiers=settings.tiers, on_saved=on_saved)
            for subject, handler in handlers.routes().items():
                await bus.serve(subject, opts.command_queue, health.track(f"command {subject}", handler))
            await bus.serve(CMD_ORCHESTRATOR_HEALTH, opts.command_queue, health.answer)
        if opts.partitions > 0:
            stream = await partitions.ensure_stream(
                bus,
                opts.consumer,
                opts.partitions,
                INBOUND_EVENT_TYPES,
                replicas=settings.stream_replicas,
                deliver_new=opts.deliver_new,
            )
            for k in range(opts.partitions):
                inbound = InboundHandler(
                    app, partitions.upstream(opts.consumer, k), on_saved, dead_letter=bus.dead_letter
                )
                tasks.append(
                    await bus.consume(
                        partitions.durable(opts.consumer, k),
                        INBOUND_EVENT_TYPES,
                        health.track("inbound event", inbound),
                        max_ack_pending=1,
                        stream=stream,
                        filter_subjects=[partitions.partition_filter(opts.consumer, k)],
                    )
                )
        else:
            inbound = InboundHandler(app, f"jetstream:{opts.consumer}", on_saved, dead_letter=bus.dead_letter)
            tasks.append(
                await bus.consume(
                    opts.consumer,
                    INBOUND_EVENT_TYPES,
                    health.track("inbound event", inbound),
                    max_ack_pending=1,
                    deliver_new=opts.deliver_new,
                )
            )
        # Progress is telemetry (docs/orchestrator.md#progress): straight onto the rows, not the
        # aggregates; any replica, many messages at once, since the update is idempotent and monotonic.
        tasks.append(
            await bus.consume(
                progress_consumer(opts.consumer),
                ["RunProgressed"],
                projection.on_progress,
                max_ack_pending=PROGRESS_IN_FLIGHT,
                deliver_new=opts.deliver_new,
            )
        )
        log.info(
            "orchestrator ready (event store schema %s, projection schema %s)",
            opts.es_schema,
            opts.projections_schema,
        )
        # a consumer, the relay or the projection that ends before `stop` exits the process (non-zero)
        await run_until_stopped(stop, *tasks)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await bus.close()
        await asyncio.to_thread(app.close)
        await pool.close()


async def rebuild_projections(settings: Settings, options: OrchestratorOptions | None = None) -> int:
    """`simswarm projections rebuild`: replace the `jobs` table from the event log; returns the job count."""
    opts = options or OrchestratorOptions()
    pool = await create_pool(settings.database_url, max_size=2)
    app = await open_application(settings.database_url, pool, opts.es_schema, pool_size=2)
    try:
        projection = JobsProjection(app, pool=pool, schema=opts.projections_schema)
        await projection.migrate()
        return await projection.rebuild()
    finally:
        await asyncio.to_thread(app.close)
        await pool.close()
