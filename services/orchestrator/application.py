"""The orchestrator's eventsourcing Application: commands, inbound events and timers on Job aggregates.

Synchronous (eventsourcing is): async code calls it through `asyncio.to_thread`. Methods take and
return plain values. The recorder is a ProcessRecorder, so each inbound message is saved as a
Tracking(upstream, stream sequence) in the same transaction as the events it caused, even when it
caused none: a redelivery is recognised and changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, PersistenceError, ProcessRecorder, Recording, Tracking

from contracts import events as ev
from contracts.spec import JobSpec, Tier, TierConfig, resolve_run
from services.kit.telemetry import current_traceparent
from services.orchestrator import process_manager
from services.orchestrator.domain.errors import JobError, OwnerMismatch
from services.orchestrator.domain.job import Job, job_uuid
from services.orchestrator.mapping import to_contract
from services.orchestrator.rows import job_row
from services.orchestrator.store import BatchingProcessRecorder, GroupCommit

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


def seed_for(job_id: str) -> int:
    """A stable random seed per job id, so a retried CreateJob resolves to the same run."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:4], "big")


@dataclass(frozen=True)
class JobResult:
    """What a command did: the job's row (None if unknown), the last notification id it wrote."""

    row: dict[str, Any] | None
    notification_id: int | None = None
    changed: bool = False


@dataclass(frozen=True)
class InboundResult:
    duplicate: bool
    new_events: int = 0
    notification_id: int | None = None
    known_job: bool = True
    event_names: list[str] = field(default_factory=list)
    poison: str | None = None  # why the event could not be applied (it is acked and set aside)


@dataclass(frozen=True)
class SetAside:
    """A stored event the relay cannot turn into a contract event: dead-lettered, its job failed."""

    job_id: str
    name: str
    version: int
    reason: str

    @classmethod
    def of(cls, domain_event: Any, reason: str, job_id: str | None = None) -> SetAside:
        """This stored event set aside (named by its aggregate id when its job id is unknown)."""
        return cls(
            job_id or str(domain_event.originator_id),
            type(domain_event).__name__,
            domain_event.originator_version,
            reason,
        )


def is_transient(exc: BaseException) -> bool:
    """An error of the database or the network (retry later), not of the data (set it aside)."""
    return isinstance(exc, PersistenceError | OSError | TimeoutError)


class OrchestratorApplication(Application[UUID]):
    """Job aggregates in Postgres (schema `orchestrator`); the notification log is the outbox."""

    name = "Orchestrator"
    log_section_size = 1000
    env = {"AGGREGATE_CACHE_MAXSIZE": "1000"}

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        # One lock per job, not one for the process nor per stripe of ids: the partitions' consumers
        # advance different jobs at once, while two writers of one job in this process (an inbound
        # event and a command or timer) take turns instead of losing a save to a version conflict.
        # (Stripes made unrelated jobs wait on each other's saves: p99 23 ms at 50 jobs.)
        self._job_locks: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
        self._job_locks_guard = threading.Lock()
        # Saves of events are written a group at a time (services.orchestrator.store): the recorder
        # serialises them anyway, with a table lock held until the commit, so the saves waiting for
        # it share the next transaction instead of each waiting for all the others'. Waiting here,
        # not on a pooled connection, also leaves the connections to the loads of other jobs.
        self._group_commit = GroupCommit(self._record_one, self._record_many)
        self._job_ids: OrderedDict[UUID, str] = OrderedDict()

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Stamp each new event with the trace context of the span that decided it (the command's or
        the inbound message's, current in this thread: `asyncio.to_thread` copies the context), so the
        relay can publish it as that span's child; then record as usual. Every save passes here."""
        traceparent = current_traceparent()
        if traceparent:
            for domain_event in processing_event.events:
                if getattr(domain_event, "traceparent", "") is None:
                    # Events are frozen dataclasses; this one is not stored yet, so setting it is safe.
                    object.__setattr__(domain_event, "traceparent", traceparent)
        if not processing_event.events or not isinstance(self.recorder, BatchingProcessRecorder):
            return super()._record(processing_event)  # a tracking row alone takes no table lock
        return self._group_commit.write(processing_event)

    def _record_one(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        return super()._record(processing_event)

    def _record_many(self, group: list[ProcessingEvent[UUID]]) -> list[list[Recording[UUID]]]:
        """Several saves in one transaction (all or none): their events in order, their tracking rows."""
        recordings = self.events.put(
            [e for pe in group for e in pe.events],
            trackings=[pe.tracking for pe in group if pe.tracking is not None],
        )
        out, start = [], 0
        for pe in group:
            out.append(recordings[start : start + len(pe.events)])
            start += len(pe.events)
            if self.repository.cache and not self.repository.fastforward:  # as Application._record
                for aggregate_id, aggregate in pe.aggregates.items():
                    self.repository.cache.put(aggregate_id, aggregate)
        return out

    def _job_lock(self, job_id: str) -> threading.RLock:
        """This job's lock (its writers in this process; replicas race on versions instead). Kept
        while someone holds a reference to it, so it is the same object for everyone using it."""
        with self._job_locks_guard:
            lock = self._job_locks.get(job_id)
            if lock is None:
                lock = self._job_locks[job_id] = threading.RLock()
            return lock

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        return self.factory.process_recorder()

    # -- reads ---------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        try:
            job: Any = self.repository.get(job_uuid(job_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(job, Job)
        return job

    def job_row(self, job_id: str) -> dict[str, Any] | None:
        job = self.get_job(job_id)
        return job_row(job) if job else None

    def live_jobs(self, job_ids: Sequence[str]) -> list[str]:
        """Which of these jobs are not finished (unknown ids, and jobs that cannot be loaded, are not)."""
        out = []
        for job_id in job_ids:
            try:
                job = self.get_job(job_id)
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("job %s cannot be loaded (%s); counted as not live", job_id, exc)
                continue
            if job is not None and not job.is_terminal:
                out.append(job_id)
        return out

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def notifications_after(self, position: int, limit: int) -> list[tuple[int, Any]]:
        """Stored domain events after `position` in the notification log, as (notification id, event)."""
        items = self.recorder.select_notifications(start=position, limit=limit, inclusive_of_start=False)
        return [(n.id, self.mapper.to_domain_event(n)) for n in items]

    def contract_events_after(
        self, position: int, limit: int
    ) -> list[tuple[int, ev.Event | SetAside | None]]:
        """The outbox: (notification id, contract event, or None for an internal fact, or SetAside for
        a stored event that cannot be published, e.g. one that today's contract refuses)."""
        out: list[tuple[int, ev.Event | SetAside | None]] = []
        for nid, domain_event in self.notifications_after(position, limit):
            try:
                job_id = self.job_id_of(domain_event)
            except Exception as exc:
                if is_transient(exc):
                    raise
                set_aside = SetAside.of(domain_event, f"its job id cannot be read: {exc}")
                out.append((nid, set_aside))
                continue
            try:
                out.append((nid, to_contract(domain_event, job_id)))
            except Exception as exc:
                out.append((nid, SetAside.of(domain_event, f"not a valid contract event: {exc}", job_id)))
        return out

    def job_id_of(self, domain_event: Any) -> str:
        """The job id of a stored event (only JobCreated carries it; the rest are looked up once)."""
        aggregate_id = domain_event.originator_id
        if hasattr(domain_event, "job_id"):
            job_id = str(domain_event.job_id)
        elif aggregate_id in self._job_ids:
            job_id = self._job_ids[aggregate_id]
        else:
            first = list(self.events.get(aggregate_id, lte=1))
            job_id = str(first[0].job_id)  # type: ignore[attr-defined]
        self._job_ids[aggregate_id] = job_id
        self._job_ids.move_to_end(aggregate_id)
        while len(self._job_ids) > 10_000:
            self._job_ids.popitem(last=False)
        return job_id

    # -- commands ------------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        owner_id: str,
        spec: JobSpec,
        *,
        retry_of: str | None = None,
        tiers: dict[Tier, TierConfig] | None = None,
        now: datetime | None = None,
    ) -> JobResult:
        """Record JobCreated + PodRequested(attempt 1) in one save; the same job id again returns the job.

        Raises contracts.spec.SpecError for a spec that cannot run, OwnerMismatch for a reused id.
        """
        run = resolve_run(spec, seed_for(job_id), tiers)
        with self._job_lock(job_id):
            existing = self.get_job(job_id)
            if existing is None:
                at = now or utcnow()
                job = Job.accept(job_id, owner_id, spec, run, at, retry_of=retry_of)
                process_manager.start(job, at)
                try:
                    recordings = self.save(job)
                except IntegrityError:  # created concurrently by another replica
                    existing = self.get_job(job_id)
                    assert existing is not None
                else:
                    return JobResult(job_row(job), recordings[-1].notification.id, changed=True)
        if existing.owner_id != owner_id:
            raise OwnerMismatch(job_id)
        return JobResult(job_row(existing), None, changed=False)

    def cancel_job(
        self, job_id: str, requested_by: str | None, reason: str, *, now: datetime | None = None
    ) -> JobResult:
        """Cancel a live job (teardown, then JobCancelled); a finished job is returned unchanged."""
        return self._decide(
            job_id, lambda job, at: process_manager.cancel(job, requested_by, reason, at), now
        )

    def fail_job(self, job_id: str, reason: str, stage: str, now: datetime | None = None) -> JobResult:
        """Fail a live job for a reason found outside the saga (unstorable record, unpublishable event)."""
        return self._decide(job_id, lambda job, at: process_manager.fail(job, reason, stage, at), now)

    def fire_timers(
        self, job_id: str, now: datetime | None = None, last_progress: ev.RunProgressed | None = None
    ) -> JobResult:
        """Apply the job's due durable timers (deadline, watchdogs, teardown re-requests);
        `last_progress` is the job's newest RunProgressed on the bus (telemetry), if any."""
        return self._decide(job_id, lambda job, at: process_manager.fire_timers(job, at, last_progress), now)

    def _decide(
        self, job_id: str, decide: Callable[[Job, datetime], object], now: datetime | None
    ) -> JobResult:
        for attempt in range(CONFLICT_RETRIES):
            with self._job_lock(job_id):
                job = self.get_job(job_id)
                if job is None:
                    return JobResult(None)
                decide(job, now or utcnow())
                if not job.pending_events:
                    return JobResult(job_row(job))
                try:
                    recordings = self.save(job)
                except IntegrityError:
                    if attempt == CONFLICT_RETRIES - 1:
                        raise
                    continue  # another replica wrote this job meanwhile: decide again on fresh state
                return JobResult(job_row(job), recordings[-1].notification.id, changed=True)
        raise AssertionError("unreachable")

    # -- inbound events (exactly once in effect) -----------------------------------------------

    def process_inbound(
        self, event: ev.Event, upstream: str, position: int, now: datetime | None = None
    ) -> InboundResult:
        """React to one inbound event at stream position `position`, recording the position atomically.

        A position already tracked (a redelivery) changes nothing. Events must arrive in order per
        upstream (tracking keeps the highest position): the consumer runs with max_ack_pending=1.
        """
        for attempt in range(CONFLICT_RETRIES):
            with self._job_lock(event.job_id):
                if self._tracked(upstream, position):
                    return InboundResult(duplicate=True)
                poison: str | None = None
                try:
                    job = self.get_job(event.job_id)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    job, poison = None, f"job {event.job_id} cannot be loaded: {exc}"
                if job is not None:
                    try:
                        process_manager.react(job, event, now or utcnow())
                    except JobError as exc:  # a rule the saga should not have broken: skip, loudly
                        log.error("job %s: %s at %s not applied: %s", event.job_id, event.type, position, exc)
                        job.collect_events()
                    except Exception as exc:  # this event cannot be applied: set it aside, fail the job
                        if is_transient(exc):
                            raise
                        poison = f"{event.type} could not be applied: {exc}"
                        job = self.get_job(event.job_id)  # fresh: the failed reaction may have changed it
                        assert job is not None
                        process_manager.fail(
                            job, f"an event could not be applied ({poison})", "orchestrator", now or utcnow()
                        )
                if poison:
                    log.error("job %s: %s (seq %s) set aside: %s", event.job_id, event.type, position, poison)
                names = [type(e).__name__ for e in job.pending_events] if job else []
                tracking = Tracking(application_name=upstream, notification_id=position)
                try:
                    recordings = self._save_tracked(job, tracking)
                except IntegrityError:
                    if self._tracked(upstream, position):
                        return InboundResult(duplicate=True)
                    if attempt == CONFLICT_RETRIES - 1:
                        raise
                    continue
                if job is None and poison is None:
                    log.warning(
                        "%s for unknown job %s (seq %s) acknowledged", event.type, event.job_id, position
                    )
                return InboundResult(
                    duplicate=False,
                    new_events=len(recordings),
                    notification_id=recordings[-1].notification.id if recordings else None,
                    known_job=job is not None,
                    event_names=names,
                    poison=poison,
                )
        raise AssertionError("unreachable")

    def _tracked(self, upstream: str, position: int) -> bool:
        recorder = self.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder.has_tracking_id(upstream, position)

    def _save_tracked(self, job: Job | None, tracking: Tracking) -> list[Any]:
        """Save the job's new events (maybe none) and the tracking position in one transaction."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(job)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def timer_due(self, job_id: str) -> datetime | None:
        job = self.get_job(job_id)
        return job.next_due_at() if job else None
