"""The artifact worker: consume one event, fetch and verify its artifacts, produce, publish, or fail.

The reporter (ReportRequested -> ReportWritten | ReportFailed) and the graph service (RunCompleted ->
GraphBuilt | GraphFailed) are both this shape; a subclass names its service, its trigger, the files it
reads and its failure event, and writes `produce`; the class method `serve` is the service's `serve`.
What the base guarantees for each:

* Inputs are fetched once and each checked against its ArtifactRef (size and SHA-256).
* A missing or corrupt artifact fails the job's step at once (the failure event, with the reason).
* An unreachable object store is retried through the bus's backoff; on the last allowed delivery it
  also becomes the failure event, so the job ends with a clear reason instead of waiting forever.
* Every event it emits has a deterministic id (job id + type), so a redelivered trigger yields a
  duplicate the stream drops: outputs are rewritten in place, the outcome is published once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from typing import Any, ClassVar

from contracts.artifacts import ArtifactRef
from contracts.events import AnyEvent, Event, deterministic_event_id, new_event
from services.kit.artifacts import ArtifactInvalid
from services.kit.bus import Bus, Delivery, PublishAck
from services.kit.objectstore import ObjectNotFound, ObjectStore, ObjectStoreUnavailable
from services.kit.service import run_until_stopped
from services.kit.settings import Settings

log = logging.getLogger(__name__)


def ref_name(ref: ArtifactRef) -> str:
    return ref.name or ref.key.rsplit("/", 1)[-1]


async def fetch_verified(
    store: ObjectStore, refs: Iterable[ArtifactRef], wanted: Iterable[str], *, concurrency: int = 4
) -> dict[str, bytes]:
    """file name -> bytes for each wanted file the refs list, each verified by size and SHA-256.

    A listed file that is absent or does not hash to its ref raises ArtifactInvalid (permanent);
    an unreachable store raises ObjectStoreUnavailable (worth retrying).
    """
    by_name = {ref_name(r): r for r in refs}
    chosen = [by_name[n] for n in wanted if n in by_name]
    sem = asyncio.Semaphore(concurrency)

    async def one(ref: ArtifactRef) -> tuple[str, bytes]:
        async with sem:
            try:
                data = await store.get_bytes(ref.key)
            except ObjectNotFound as exc:
                raise ArtifactInvalid(
                    f"{ref_name(ref)} is missing from the object store (key {ref.key})"
                ) from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref.sha256.lower():
            raise ArtifactInvalid(
                f"{ref_name(ref)} is corrupt: its SHA-256 is {digest[:16]}…, expected {ref.sha256[:16]}… "
                f"({len(data)} bytes, expected {ref.size})"
            )
        return ref_name(ref), data

    return dict(await asyncio.gather(*(one(r) for r in chosen)))


class ArtifactWorker:
    """Handles deliveries of `trigger`: its artifacts in (verified), outputs and one outcome event out."""

    service: ClassVar[str]  # the NATS user it connects as, and the name of its durable consumer
    trigger: ClassVar[type[Event]]
    inputs: ClassVar[tuple[str, ...]]  # the artifact file names `produce` reads
    failed: ClassVar[type[Event]]  # the failure event; it carries `reason`
    what: ClassVar[str]  # in log lines: "report for job …", "graph for job …"

    def __init__(self, bus: Bus, store: ObjectStore, settings: Settings, max_deliver: int) -> None:
        self.bus = bus
        self.store = store
        self.settings = settings
        self.max_deliver = max_deliver

    async def produce(self, event: Any, files: dict[str, bytes], delivery: Delivery) -> None:
        """Build and store the outputs from `files` (name -> verified bytes), then publish the outcome."""
        raise NotImplementedError

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if not isinstance(event, self.trigger):
            return
        try:
            files = await fetch_verified(self.store, getattr(event, "artifacts", []), self.inputs)
            await self.produce(event, files, delivery)
        except ArtifactInvalid as exc:
            await self.fail(event, str(exc))
        except ObjectStoreUnavailable as exc:
            if delivery.num_delivered >= self.max_deliver:
                await self.fail(
                    event, f"object store unreachable after {delivery.num_delivered} attempts: {exc}"
                )
                return
            raise

    async def publish_outcome(self, event_type: type[Event], cause: Event, **fields: Any) -> PublishAck:
        """Publish `event_type` for the cause's job with the deterministic id that makes it once-only."""
        outcome = new_event(
            event_type,
            cause.job_id,
            cause=cause,
            event_id=deterministic_event_id(cause.job_id, event_type.__name__),
            **fields,
        )
        return await self.bus.publish(outcome)

    async def fail(self, event: Event, reason: str) -> None:
        log.warning("%s for job %s failed: %s", self.what, event.job_id, reason)
        await self.publish_outcome(self.failed, event, reason=reason)

    @classmethod
    async def serve(
        cls,
        settings: Settings,
        stop: asyncio.Event,
        *,
        durable: str | None = None,
        deliver_new: bool = False,
        max_deliver: int = 8,
    ) -> None:
        """Consume `trigger` on a durable consumer until `stop` is set: a service's `serve`.

        The consumer is named after the service unless `durable` says otherwise; `durable` and
        `deliver_new` let tests run a private consumer.
        """
        durable = durable or cls.service
        bus = await Bus.connect(settings.nats_url, name=durable, login=settings.nats_login(cls.service))
        try:
            await bus.ensure_streams(settings.stream_replicas)
            async with ObjectStore(settings) as store:
                worker = cls(bus, store, settings, max_deliver)
                trigger = cls.trigger.__name__
                task = await bus.consume(
                    durable,
                    [trigger],
                    worker.handle,
                    max_ack_pending=4,
                    max_deliver=max_deliver,
                    deliver_new=deliver_new,
                )
                log.info("%s consuming %s as %s", cls.service, trigger, durable)
                await run_until_stopped(stop, task)
        finally:
            await bus.close()
