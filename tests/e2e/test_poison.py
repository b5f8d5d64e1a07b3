"""A poison in the event store, on the whole platform: a job written straight into the orchestrator's
event store with a NUL in its goal and market question (PostgreSQL refuses NUL in text and jsonb, and
today's contract refuses it in a goal). It used to make the orchestrator crash-loop on every restart,
`simswarm projections rebuild` fail and every later create answer 503. Now the job is set aside and
failed (its pod torn down), a restart comes up, creates still work, and the rebuild completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from contracts.spec import JobSpec, resolve_run
from services.orchestrator import process_manager
from services.orchestrator.domain.job import Job
from services.orchestrator.main import create_application
from simswarm.client import ApiError, Client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SEED = """Dockworkers at the Port of Rotterdam walked out on Monday over automation plans. The port
authority said container traffic fell by half; shipping lines diverted vessels to Antwerp."""
QUESTION = "Will the Rotterdam dock strike end within 30 days?"


def put_poison_job(database_url: str, job_id: str) -> None:
    """JobCreated + PodRequested with NULs, saved by the orchestrator's own application (no gateway)."""
    spec = JobSpec(seed_text=SEED, goal=QUESTION, agents=4, rounds=3, policy="heuristic")
    spec_data = msgspec.to_builtins(spec)
    run = msgspec.to_builtins(resolve_run(spec, 5))
    spec_data["goal"] = "Will the strike\x00end?"
    run["markets"][0]["question"] = "Ends\x00soon?"
    app = create_application(database_url, "orchestrator", pool_size=1)
    try:
        now = datetime.now(UTC)
        job = Job(
            job_id=job_id, owner_id="poison", spec=spec_data, run=run, retry_of=None, at=now, traceparent=None
        )
        process_manager.start(job, now)
        app.save(job)
    finally:
        app.close()


def create_once_it_answers(client: Client, seed: int, timeout: float = 90.0) -> dict[str, Any]:
    """Create a job, retrying the 503 a client gets while the restarted orchestrator starts up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.create_job(SEED, QUESTION, policy="heuristic", agents=4, rounds=3, random_seed=seed)
        except ApiError as exc:
            if exc.status != 503 or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def test_a_nul_in_the_event_store_wedges_nothing(fresh_platform, make_probe, client_for):
    sup = fresh_platform()
    probe = make_probe(sup).start_watching()
    assert sup.stack is not None and sup.stack.database_url
    with client_for(sup) as client:  # the orchestrator is up (its event store exists) before the poison
        create_once_it_answers(client, seed=1)
    poison = uuid.uuid4().hex
    put_poison_job(sup.stack.database_url, poison)

    # the bad job is failed, with a reason, and its pod (provisioned from its PodRequested) torn down
    events = probe.wait_terminal(poison, timeout=120)
    failed = events[-1]
    assert failed.type == "JobFailed" and "could not be published" in failed.reason, failed
    assert "JobCreated" not in [e.type for e in events]  # set aside, not published
    assert any(
        "unpublishable JobCreated" in headers.get("Simswarm-Reason", "")
        for _subject, headers, _data in probe.dead_letters()
    )

    # a restart of the orchestrator comes up and stays up, and creates still work
    old_pid = probe.service_pid("orchestrator")
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while probe.service_pid("orchestrator") == old_pid and time.monotonic() < deadline:
        time.sleep(0.2)
    restarted = probe.service_pid("orchestrator")
    assert restarted != old_pid, "the supervisor did not restart the orchestrator"
    with client_for(sup) as client:
        job = create_once_it_answers(client, seed=2)
        assert job["status"] in ("provisioning", "created")
        assert probe.wait_terminal(job["job_id"], timeout=120)[-1].type == "JobCompleted"
    assert probe.service_pid("orchestrator") == restarted and sup.procs["orchestrator"].restarts == 1

    # `simswarm projections rebuild` completes over the same log
    done = subprocess.run(
        [sys.executable, "-m", "simswarm.cli", "projections", "rebuild", "--home", str(sup.home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "rebuilt the jobs projection" in done.stderr
    assert probe.live_pod_pids() == []
