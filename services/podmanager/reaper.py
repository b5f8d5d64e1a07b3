"""The orphan reaper: no pod outlives its job.

Every sweep lists the provider's pods, asks the orchestrator which of their jobs are still live, and
terminates pods whose job is not live (past a grace period, so a pod being provisioned for a job the
orchestrator has just created is never raced) or whose name is tombstoned (a teardown that did not
finish). Each reaped pod is announced with StrayPodReaped, and with the PodTerminated its teardown
would have published (the same deterministic event id, so JetStream keeps one of the two): a
teardown interrupted by a crash is then settled by the reaper's first sweep, not by the redelivery of
its PodTeardownRequested. When the orchestrator does not answer, only tombstoned pods are reaped:
liveness is never guessed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.commands import CommandReply, LiveJobsQuery
from contracts.events import StrayPodReaped, deterministic_event_id, new_event
from contracts.subjects import CMD_LIVE_JOBS
from services.kit.periodic import every
from services.podmanager.naming import parse_pod_name
from services.podmanager.pod_events import pod_terminated
from services.podmanager.pods_repo import PodRepository
from services.podmanager.providers.base import PodInfo, PodProvider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stray:
    """A pod to reap and why."""

    pod: PodInfo
    job_id: str
    reason: str


def decide_strays(
    pods: list[PodInfo],
    *,
    live_job_ids: set[str] | None,
    tombstoned: set[str],
    first_seen: dict[str, float],
    now: float,
    grace_s: float,
) -> list[Stray]:
    """Which pods to reap (pure). `live_job_ids` None means the orchestrator did not answer.

    A pod's age is the larger of what the provider says and how long this reaper has seen it, so a
    provider that reports no creation time still gets reaped once the grace period has passed here.
    """
    strays: list[Stray] = []
    for pod in pods:
        parsed = parse_pod_name(pod.name)
        if parsed is None:
            continue  # not a name we make: leave it to a human
        job_id, _attempt = parsed
        if pod.name in tombstoned:
            strays.append(Stray(pod, job_id, "its teardown was requested but the pod was still there"))
            continue
        if live_job_ids is None or job_id in live_job_ids:
            continue
        age = now - first_seen.get(pod.name, now)
        if pod.created_at is not None:
            age = max(age, now - pod.created_at.timestamp())
        if age >= grace_s:
            strays.append(Stray(pod, job_id, f"job {job_id} is not live (pod age {age:.0f} s)"))
    return strays


@dataclass(kw_only=True)
class Reaper:
    """Periodic sweeps of the provider's pods against the live jobs."""

    bus: Any
    provider: PodProvider
    pods: PodRepository
    lock: Callable[[str], asyncio.Lock]
    live_subject: str = CMD_LIVE_JOBS
    grace_s: float = 120.0
    interval_s: float = 60.0
    request_timeout_s: float = 5.0
    _first_seen: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    async def live_jobs(self, job_ids: list[str]) -> set[str] | None:
        """The live subset of `job_ids` according to the orchestrator, or None if it did not answer."""
        try:
            reply = await self.bus.request(
                self.live_subject,
                LiveJobsQuery(job_ids=job_ids),
                CommandReply,
                timeout=self.request_timeout_s,
            )
        except Exception as exc:  # no responders, timeout, bad reply: all mean "unknown"
            log.warning("reaper: the orchestrator did not say which jobs are live (%s); reaping nothing", exc)
            return None
        if not reply.ok or reply.live is None:
            log.warning("reaper: live-jobs query failed: %s", reply.error)
            return None
        return set(reply.live)

    async def sweep(self) -> list[Stray]:
        """One pass: find strays, terminate them, publish StrayPodReaped and PodTerminated. Returns
        what was reaped."""
        pods = await self.provider.list_pods()
        now = time.time()
        names = {p.name for p in pods}
        self._first_seen = {n: self._first_seen.get(n, now) for n in names}
        if not pods:
            return []
        job_ids = sorted({parsed[0] for p in pods if (parsed := parse_pod_name(p.name))})
        tombstoned = await self.pods.tombstoned(sorted(names))
        live = await self.live_jobs(job_ids) if job_ids else set()
        strays = decide_strays(
            pods,
            live_job_ids=live,
            tombstoned=tombstoned,
            first_seen=self._first_seen,
            now=now,
            grace_s=self.grace_s,
        )
        reaped = []
        for stray in strays:
            if await self._reap(stray):
                reaped.append(stray)
        return reaped

    async def _reap(self, stray: Stray) -> bool:
        name = stray.pod.name
        async with self.lock(name):
            if await self.provider.find(name) is None:
                return False  # a teardown got there first
            info = await self.provider.terminate(name)
            attempt = parsed[1] if (parsed := parse_pod_name(name)) else 0
            await self.pods.tombstone(name, stray.job_id, attempt, "reaped as stray")
            await self.pods.mark_terminated(name, info.pod_id)
        # The removal is the pod's termination: the orchestrator waits for PodTerminated (per attempt)
        # before a job can end. Same id as the teardown handler's, so only one is ever on the stream.
        await self.bus.publish(pod_terminated(stray.job_id, attempt, name, info, stray.pod.pod_id))
        await self.bus.publish(
            new_event(
                StrayPodReaped,
                stray.job_id,
                event_id=deterministic_event_id(stray.job_id, "StrayPodReaped", name, stray.pod.pod_id),
                pod_name=name,
                pod_id=stray.pod.pod_id,
                provider=stray.pod.provider,
                reason=stray.reason,
            )
        )
        log.warning("reaped stray pod %s: %s", name, stray.reason)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep at once, then every `interval_s`, until `stop` is set; a failed sweep is logged."""
        await every(self.interval_s, stop, self.sweep, what="reaper sweep", log=log)
