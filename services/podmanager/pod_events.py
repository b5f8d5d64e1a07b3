"""The events about one attempt's pod, each with its deterministic id (job, type, attempt).

A repeat of the same event (a redelivered request handled again, or the reaper settling a teardown
that a crash cut short) has the same id, and JetStream drops it: a job sees each at most once.
"""

from __future__ import annotations

from typing import Any, TypeVar

from contracts.events import Event, PodEvent, PodTerminated, deterministic_event_id, new_event
from services.podmanager.providers.base import TerminationInfo

P = TypeVar("P", bound=PodEvent)


def pod_event(
    cls: type[P], job_id: str, attempt: int, pod_name: str, *, cause: Event | None = None, **fields: Any
) -> P:
    """`cls` about the pod `pod_name` of `attempt`."""
    event_id = deterministic_event_id(job_id, cls.__name__, attempt)
    return new_event(
        cls, job_id, cause=cause, event_id=event_id, attempt=attempt, pod_name=pod_name, **fields
    )


def pod_terminated(
    job_id: str,
    attempt: int,
    pod_name: str,
    info: TerminationInfo,
    pod_id: str | None,
    *,
    cause: Event | None = None,
) -> PodTerminated:
    """The pod's termination, by its teardown or by the reaper (one id for both); `pod_id` names it
    when the provider no longer could."""
    return pod_event(
        PodTerminated,
        job_id,
        attempt,
        pod_name,
        cause=cause,
        pod_id=info.pod_id or pod_id,
        billed_seconds=info.billed_seconds,
        cost=info.cost,
    )
