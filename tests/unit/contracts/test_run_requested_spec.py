"""RunRequested carries the run's spec, so the podmanager never reads the job's JobCreated back."""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from contracts import events as ev
from contracts.spec import JobSpec, ResolvedRun
from services.orchestrator import process_manager as pm
from services.orchestrator.domain.job import Job
from services.orchestrator.mapping import to_contract
from tests.unit.orchestrator.test_orchestrator_saga import JOB, SPEC, T0, new_job, pod


def _pod_ready(job: Job) -> list[Any]:
    """The stored events the saga decides once the job's pod is ready (a RunRequested among them)."""
    pm.react(job, ev.new_event(ev.PodReady, JOB, attempt=1, pod_name=pod(), pod_id="p1"), T0)
    return list(job.collect_events())


def _run_requested(stored: list[Any]) -> Any:
    (found,) = [e for e in stored if type(e).__name__ == "RunRequested"]
    return found


def test_the_relayed_run_requested_carries_the_jobs_spec_and_resolved_run() -> None:
    job = new_job()
    published = to_contract(_run_requested(_pod_ready(job)), JOB)
    assert isinstance(published, ev.RunRequested)
    assert published.spec == SPEC
    assert published.run == msgspec.convert(job.run, ResolvedRun)
    back = ev.decode_event(ev.encode_event(published))  # and it survives the wire as those types
    assert isinstance(back, ev.RunRequested) and isinstance(back.spec, JobSpec) and back.run == published.run


def test_a_run_requested_stored_before_the_spec_was_carried_maps_to_none_and_replays() -> None:
    job = new_job()
    before = copy.deepcopy(job)
    stored = _pod_ready(job)
    old = _run_requested(stored)
    del old.__dict__["spec"], old.__dict__["run"]  # as an older orchestrator stored it
    published = to_contract(old, JOB)
    assert isinstance(published, ev.RunRequested) and (published.spec, published.run) == (None, None)
    for event in stored:  # replaying the older event still applies it
        event.mutate(before)
    assert (before.status, before.run_id, before.version) == (job.status, job.run_id, job.version)
