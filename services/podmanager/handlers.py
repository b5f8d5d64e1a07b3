"""The pod manager's event handlers: provisioning with a health wait, runs, teardown.

Idempotency: the pod name (job id + attempt) is the provider's key, every emitted event has a
deterministic id, and a tombstone in `podmanager.pods` keeps a torn-down name from being provisioned
again. A per-name lock orders provisioning and teardown of the same pod within this process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from contracts.events import (
    AnyEvent,
    PodEvent,
    PodProvisioned,
    PodProvisionFailed,
    PodReady,
    PodRequested,
    PodTeardownRequested,
    PodUnhealthy,
    RunRequested,
)
from services.kit.telemetry import current_traceparent, otel_env
from services.podmanager.pod_events import pod_event, pod_terminated
from services.podmanager.pods_repo import PodRepository
from services.podmanager.providers.base import PodInfo, PodProvider, PodProvisionError
from services.podmanager.runs import EventBus, RunFollower, Store
from services.podmanager.worker_client import WorkerClient

log = logging.getLogger(__name__)

# One consumer per kind of work (see main.py): a run is followed for hours, provisioning waits for
# health, teardown is quick and must never wait behind either.
PROVISIONING = ["PodRequested"]
RUNS = ["RunRequested"]
TEARDOWNS = ["PodTeardownRequested"]
HANDLED = PROVISIONING + RUNS + TEARDOWNS


class PodManager:
    """Handles PodRequested, RunRequested and PodTeardownRequested for one provider."""

    def __init__(
        self,
        *,
        bus: EventBus,
        store: Store,
        pods: PodRepository,
        provider: PodProvider,
        llm_url: str | None = None,
        health_timeout_s: float | None = None,
        health_every_s: float = 0.5,
        run_lost_after_s: float = 60.0,
        poll_wait_s: float = 25.0,
    ) -> None:
        self.bus = bus
        self.pods = pods
        self.provider = provider
        self.http = httpx.AsyncClient()
        # local pods start in seconds; a RunPod pod pulls an image and model weights first
        self.health_timeout_s = health_timeout_s or (120.0 if provider.name == "local" else 1800.0)
        self.health_every_s = health_every_s if provider.name == "local" else max(health_every_s, 5.0)
        self.llm_url = llm_url
        self._locks: dict[str, asyncio.Lock] = {}
        self._torn_down: set[str] = set()
        self.runs = RunFollower(
            bus=bus,
            store=store,
            provider=provider,
            http=self.http,
            is_torn_down=self.is_torn_down,
            llm_url=llm_url if provider.name == "local" else None,
            lost_after_s=run_lost_after_s,
            poll_wait_s=poll_wait_s,
        )

    def lock(self, name: str) -> asyncio.Lock:
        """The lock that orders provisioning, teardown and reaping of one pod name."""
        return self._locks.setdefault(name, asyncio.Lock())

    async def is_torn_down(self, name: str) -> bool:
        """True once a teardown of this pod name was requested (here or by an earlier process)."""
        return name in self._torn_down or await self.pods.is_tombstoned(name)

    async def _publish(self, cls: type[PodEvent], cause: PodEvent, **fields: Any) -> None:
        """Publish `cls` about the pod that `cause` is about (its deterministic id: a repeat is dropped)."""
        await self.bus.publish(
            pod_event(cls, cause.job_id, cause.attempt, cause.pod_name, cause=cause, **fields)
        )

    async def aclose(self) -> None:
        """Close the HTTP client (pods keep running: teardown is an event, not a shutdown)."""
        await self.http.aclose()

    async def handle(self, event: AnyEvent, delivery: Any) -> None:
        """The consumer's entry point: dispatch by event type; raising means redeliver later.

        The bus keeps the message alive (in_progress) while this runs, however long a health wait or
        a run's following takes (services/kit/bus.py).
        """
        if isinstance(event, PodRequested):
            await self.on_pod_requested(event)
        elif isinstance(event, RunRequested):
            await self.runs.follow(event)
        elif isinstance(event, PodTeardownRequested):
            await self.on_teardown_requested(event)

    # -- provisioning ------------------------------------------------------------------------------

    def pod_env(self, ev: PodRequested) -> dict[str, str]:
        """What the pod needs to know (no platform secret: the token is added by the provider).

        Every provider's pods get this service's standard OTEL_* variables (but its service name: the
        worker names itself) and, inside a trace, the provisioning span's context as TRACEPARENT
        (OpenTelemetry's environment carrier), so the pod reports into the job's trace
        (docs/operations.md#tracing).
        """
        env = {k: v for k, v in otel_env().items() if k != "OTEL_SERVICE_NAME"}
        traceparent = current_traceparent()
        if traceparent:
            env["TRACEPARENT"] = traceparent
        env.update(SIMSWARM_MODEL=ev.model, SIMSWARM_JOB_ID=ev.job_id)
        if self.provider.name == "local":
            if self.llm_url:
                env["SIMSWARM_LLM_URL"] = self.llm_url
        else:
            env["SIMSWARM_LLM_URL"] = "http://127.0.0.1:8000/v1"  # vLLM beside the worker on the pod
        return env

    async def on_pod_requested(self, ev: PodRequested) -> None:
        """Provision (idempotent by name) -> PodProvisioned | PodProvisionFailed; health -> PodReady | PodUnhealthy."""
        name = ev.pod_name
        async with self.lock(name):
            if await self.is_torn_down(name):
                log.info("pod %s was torn down; not provisioning it again", name)
                return
            await self.pods.record_requested(name, ev.job_id, ev.attempt, self.provider.name)
            try:
                pod = await self.provider.provision(name, gpu_types=list(ev.gpu_types), env=self.pod_env(ev))
            except PodProvisionError as exc:
                await self.pods.set_state(name, "failed", reason=str(exc))
                await self._publish(PodProvisionFailed, ev, reason=str(exc))
                return
            await self.pods.set_state(name, "provisioned", pod_id=pod.pod_id, worker_url=pod.worker_url)
            await self._publish(
                PodProvisioned,
                ev,
                pod_id=pod.pod_id,
                provider=pod.provider,
                gpu_type=pod.gpu_type,
                cost_per_hour=pod.cost_per_hour,
            )
        await self._await_health(ev, pod)

    async def _await_health(self, ev: PodRequested, pod: PodInfo) -> None:
        reason = await self.wait_healthy(pod)
        if await self.is_torn_down(pod.name):
            return  # torn down while starting: the teardown's PodTerminated says the rest
        if reason is None:
            await self.pods.set_state(pod.name, "ready")
            await self._publish(PodReady, ev, pod_id=pod.pod_id)
            return
        await self.pods.set_state(pod.name, "unhealthy", reason=reason)
        await self._publish(PodUnhealthy, ev, pod_id=pod.pod_id, reason=reason)

    async def wait_healthy(self, pod: PodInfo) -> str | None:
        """Poll GET /health until 200 (None) or a reason it never will: deadline, pod gone, torn down."""
        client = WorkerClient(self.provider.endpoint(pod), self.http)
        deadline = time.monotonic() + self.health_timeout_s
        checks = 0
        while time.monotonic() < deadline:
            if await client.healthy():
                return None
            if pod.name in self._torn_down:
                return "torn down while starting"
            checks += 1
            if checks % 4 == 0:  # ask the provider now and then whether the pod still exists
                current = await self.provider.find(pod.name)
                if current is None or current.status in ("exited", "terminated"):
                    state = "disappeared" if current is None else f"{current.status}"
                    return f"pod {pod.name} {state} before its worker became healthy"
            await asyncio.sleep(self.health_every_s)
        return f"the worker did not become healthy within {self.health_timeout_s:.0f} s"

    # -- teardown ----------------------------------------------------------------------------------

    async def on_teardown_requested(self, ev: PodTeardownRequested) -> None:
        """Tombstone the name, terminate the pod (even mid-provisioning), PodTerminated."""
        name = ev.pod_name
        self._torn_down.add(name)  # followers and health waits of this pod stop quietly
        await self.pods.tombstone(name, ev.job_id, ev.attempt, ev.reason)
        async with self.lock(name):
            info = await self.provider.terminate(name)
            await self.pods.mark_terminated(name, info.pod_id)
        await self.bus.publish(pod_terminated(ev.job_id, ev.attempt, name, info, ev.pod_id, cause=ev))
        log.info("pod %s terminated (%s)", name, "was running" if info.existed else "already gone")
