"""What the pod manager's integration tests share: the events the orchestrator would publish to it,
reading back what it said, and local providers whose pods are real worker processes.

No JobCreated is published: RunRequested carries the run's spec, and the pod manager must need nothing
else (it never reads an earlier event to act on a later one).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.events import Event, PodRequested, PodTeardownRequested, RunRequested, new_event
from contracts.spec import JobSpec, resolve_run
from services.podmanager.naming import pod_name, run_id
from services.podmanager.providers.local import LocalProvider

REAL_WORKER = [sys.executable, "-m", "engine.worker", "--host", "127.0.0.1", "--port", "{port}"]
SCRIPTED_WORKER = [sys.executable, "-m", "tests.fakes.podworker", "--host", "127.0.0.1", "--port", "{port}"]


def local_provider(settings: Any, command: list[str], round_s: float | None = None) -> LocalProvider:
    """Local pods running `command`; `round_s` paces the scripted worker's rounds."""
    return LocalProvider(
        Path(settings.home) / "pods",
        secret=settings.podmanager_secret,
        command=command,
        extra_env=None if round_s is None else {"SIMSWARM_FAKE_ROUND_S": str(round_s)},
        stop_grace_s=3.0,
    )


@dataclass(kw_only=True)
class Jobs:
    """Publishes what the orchestrator would, and reads back what the pod manager said."""

    bus: Any
    specs: dict[str, JobSpec] = field(default_factory=dict)  # the test's jobs (the stream holds others')

    async def job(self, rounds: int = 5, agents: int = 4) -> str:
        job_id = uuid.uuid4().hex
        self.specs[job_id] = JobSpec(
            seed_text="Senator Lopez backs the Clean Energy Act; the Chamber of Commerce opposes it.",
            goal="Will the Clean Energy Act pass by June?",
            agents=agents,
            rounds=rounds,
            policy="heuristic",
            random_seed=3,
        )
        return job_id

    async def publish(self, cls: type[Event], job_id: str, **fields: Any) -> Event:
        event = new_event(cls, job_id, **fields)
        await self.bus.publish(event)
        return event

    async def request_pod(self, job_id: str, attempt: int = 1) -> Event:
        return await self.publish(
            PodRequested,
            job_id,
            attempt=attempt,
            pod_name=pod_name(job_id, attempt),
            gpu_types=[],
            model="heuristic",
            policy="heuristic",
        )

    async def request_run(self, job_id: str, attempt: int = 1, *, with_spec: bool = True) -> Event:
        """RunRequested as the orchestrator makes it; `with_spec=False` as an older one did."""
        spec = self.specs[job_id]
        carried = {"spec": spec, "run": resolve_run(spec, random_seed=3)} if with_spec else {}
        return await self.publish(
            RunRequested,
            job_id,
            attempt=attempt,
            run_id=run_id(job_id, attempt),
            pod_name=pod_name(job_id, attempt),
            artifact_prefix=f"jobs/{job_id}/artifacts",
            **carried,
        )

    async def teardown(self, job_id: str, attempt: int = 1, reason: str = "test") -> Event:
        return await self.publish(
            PodTeardownRequested,
            job_id,
            attempt=attempt,
            pod_name=pod_name(job_id, attempt),
            pod_id=None,
            reason=reason,
        )

    async def events(self, job_id: str) -> list[Event]:
        return [ev for _seq, ev in await self.bus.job_events(job_id)]

    async def types(self, job_id: str) -> list[str]:
        return [ev.type for ev in await self.events(job_id)]

    async def wait_for(self, job_id: str, type_: str, timeout: float = 90.0) -> Event:
        """The job's first event of `type_`, waiting with a generous deadline (a safety net, not a measurement)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in await self.events(job_id):
                if ev.type == type_:
                    return ev
            await asyncio.sleep(0.2)
        raise AssertionError(f"no {type_} for {job_id}; got {await self.types(job_id)}")
