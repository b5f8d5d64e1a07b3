"""SIGKILL each service mid-job: the supervisor restarts it and the job still ends in JobCompleted, with
no event lost, none duplicated, and no pod process left behind.

The platform here is a dedicated `simswarm up` (Supervisor) in its own home, watched by a thread that
calls `sup.check()` like `simswarm up` does. Timelines are read straight from JetStream, so they do not
depend on the gateway being up. A service killed while it holds an un-acked message gets it again
after the consumer's short ack wait (8 s, kept alive meanwhile by progress acks).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from simswarm.client import ApiError
from simswarm.stack import free_port
from simswarm.supervisor import Supervisor
from tests.e2e.conftest import QUESTION, SEED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


# Small agents, but enough rounds that the run is still going when a mid-run kill lands.
AGENTS, ROUNDS = 30, 150

# Each of these must appear exactly once in a single-attempt job's timeline: none lost, none repeated.
ONCE = (
    "JobCreated",
    "PodRequested",
    "PodProvisioned",
    "PodReady",
    "RunRequested",
    "RunStarted",
    "RunCompleted",
    "PodTeardownRequested",
    "PodTerminated",
    "ReportRequested",
    "ReportWritten",
    "JobCompleted",
    "GraphBuilt",
)

# When each service is killed: the first event of the timeline after which the kill lands.
MOMENTS = {
    "orchestrator": "RunProgressed",  # mid-run: progress keeps arriving while it is down
    "podmanager": "RunProgressed",  # mid-run: it is following the run with RunRequested un-acked
    "gateway": "RunProgressed",  # mid-run: clients lose the API for a moment, the job must not notice
    "reporter": "RunCompleted",  # as ReportRequested arrives
    "graph": "RunCompleted",  # as it reads the artifacts to build the graph
}


@pytest.fixture(scope="module")
def crash_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisor]:
    sup = Supervisor(home=tmp_path_factory.mktemp("crash-safety"), port=free_port()).start(ready_timeout=120)
    try:
        yield sup
    finally:
        sup.stop()


def wait_restarted(sup: Supervisor, name: str, old_pid: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sp = sup.procs[name]
        if sp.proc is not None and sp.proc.pid != old_pid and sp.proc.poll() is None:
            return sp.proc.pid
        time.sleep(0.1)
    pytest.fail(f"the supervisor did not restart {name} within {timeout:.0f}s")


@pytest.mark.parametrize("service", list(MOMENTS))
def test_a_killed_service_is_restarted_and_the_job_still_completes(
    crash_platform, service, make_probe, client_for
):
    sup = crash_platform
    probe = make_probe(sup).start_watching()
    try:
        with client_for(sup) as client:
            job_id = client.create_job(
                SEED, QUESTION, policy="heuristic", agents=AGENTS, rounds=ROUNDS, random_seed=11
            )["job_id"]
        probe.wait_for_type(job_id, MOMENTS[service], timeout=90)
        restarts_before = sup.procs[service].restarts
        old_pid = probe.service_pid(service)
        os.kill(old_pid, signal.SIGKILL)
        new_pid = wait_restarted(sup, service, old_pid)
        assert sup.procs[service].restarts == restarts_before + 1

        events = probe.wait_terminal(job_id, timeout=150)
        types = [e.type for e in events]
        assert types[-1] == "JobCompleted", f"after killing {service}: {types}"
        # GraphBuilt is an annotation: the job may complete before it, but it must not be lost either.
        events = probe.wait_for_type(job_id, "GraphBuilt", timeout=120)
        types = [e.type for e in events]

        ids = [e.event_id for e in events]
        assert len(ids) == len(set(ids)), f"duplicate event ids after killing {service}"
        counts = Counter(types)
        wrong = {t: counts[t] for t in ONCE if counts[t] != 1}
        assert not wrong, f"after killing {service}, expected once but got {wrong} in {types}"
        rounds = [e.round for e in events if e.type == "RunProgressed"]
        assert sorted(rounds) == list(range(1, ROUNDS + 1)), (
            f"progress gaps or repeats after killing {service}"
        )
        assert not [t for t in types if t in ("RunFailed", "JobFailed", "PodUnhealthy", "PodProvisionFailed")]

        with client_for(sup) as client:
            job = wait_rest(client, job_id)
            assert job["status"] == "completed" and not job.get("error")
            assert [e["type"] for e in client.events(job_id)] == types  # the replay is the same timeline
        assert probe.live_pod_pids() == [], f"a pod process outlived its job after killing {service}"
        assert probe.service_pid(service) == new_pid  # and it stayed up
    finally:
        probe.close()


def wait_rest(client, job_id: str, timeout: float = 60.0) -> dict:
    """The job through the REST API, waiting out a gateway that is still restarting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.get_job(job_id)
        except ApiError as exc:
            if exc.status not in (0, 502, 503) or time.monotonic() > deadline:
                raise
            time.sleep(0.3)
