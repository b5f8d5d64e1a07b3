"""Group commit for the orchestrator's saves: several jobs' saves in one transaction.

eventsourcing's PostgreSQL recorder serialises every insert of events with a table lock held until
the commit (so the notification log has no gaps for the relay and the projection to skip), and the
commit waits for the WAL on disk. Under a burst (50 jobs' events in the same second) each save
waited behind every other one, a few milliseconds each. Here the saves that arrive while one is being
written are written together next, in one transaction: one lock, one WAL flush, every save's events
and tracking row committed together or not at all, so exactly-once holds as for a single save.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresProcessRecorder

T = TypeVar("T")
R = TypeVar("R")


class BatchingProcessRecorder(PostgresProcessRecorder):
    """A PostgreSQL process recorder that also takes `trackings=[...]`: the tracking rows of several
    processed messages, inserted in the same transaction as the events (before the table lock, as
    the single `tracking=` is)."""

    def _insert_events(self, curs: Any, stored_events: Sequence[Any], **kwargs: Any) -> None:
        trackings: Sequence[Tracking] = kwargs.get("trackings", ())
        for tracking in trackings:
            self._insert_tracking(curs, tracking=tracking)
        super()._insert_events(curs, stored_events, **kwargs)


@dataclass
class _Pending(Generic[T, R]):
    item: T
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


@dataclass
class GroupCommit(Generic[T, R]):
    """Writes items one group at a time: whoever finds the writer free writes every item queued so
    far (its own among them) with `write_many`; the others wait for that and take their result.
    A group that fails is written again item by item with `write_one`, so a conflict (a version or
    tracking row another replica wrote, a redelivery) is the failing item's alone."""

    write_one: Callable[[T], R]
    write_many: Callable[[list[T]], list[R]]
    _queue: list[_Pending[T, R]] = field(default_factory=list, init=False)
    _queue_guard: threading.Lock = field(default_factory=threading.Lock, init=False)
    _writer: threading.Lock = field(default_factory=threading.Lock, init=False)
    groups: int = field(default=0, init=False)  # transactions that held more than one save

    def write(self, item: T) -> R:
        mine: _Pending[T, R] = _Pending(item)
        with self._queue_guard:
            self._queue.append(mine)
        with self._writer:
            if not mine.done:
                with self._queue_guard:
                    group, self._queue = self._queue, []
                try:
                    self._write_group(group)
                except BaseException as exc:  # e.g. interrupted: no one may wait for a group never written
                    for pending in group:
                        if not pending.done:
                            pending.error, pending.done = exc, True
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]

    def _write_group(self, group: list[_Pending[T, R]]) -> None:
        if len(group) > 1:
            try:
                results = self.write_many([p.item for p in group])
            except Exception:  # which one failed is for write_one to tell
                pass
            else:
                self.groups += 1
                for pending, result in zip(group, results, strict=True):
                    pending.result, pending.done = result, True
                return
        for pending in group:
            try:
                pending.result = self.write_one(pending.item)
            except BaseException as exc:
                pending.error = exc
            pending.done = True
