"""Faults with a clear, tested outcome: a worker that dies mid-run, malformed events on the bus, an
object store that goes away. Each ends in a terminal job state (or no harm at all), with every pod
torn down and no pod process left alive.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx
import pytest

from contracts.subjects import job_subject
from tests.e2e.conftest import QUESTION, SEED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SERVICES = ("orchestrator", "podmanager", "reporter", "graph", "gateway")


def test_a_worker_killed_mid_run_fails_the_run_and_the_job_resumes_from_its_checkpoint(
    platform, make_probe, client_for
):
    """docs/orchestrator.md: RunFailed that is retryable (the pod died) with a checkpoint and an attempt
    left -> the failed pod is torn down, a new pod is requested, and the run resumes from the checkpoint."""
    probe = make_probe(platform)
    rounds = 150
    with client_for(platform) as client:
        job_id = client.create_job(
            SEED, QUESTION, policy="heuristic", agents=30, rounds=rounds, random_seed=21
        )["job_id"]
        before = probe.wait_for_type(job_id, "RunCheckpointed", timeout=90)
        checkpoint = next(e for e in before if e.type == "RunCheckpointed")
        pids = probe.pod_pids_now()
        assert len(pids) == 1, f"expected the job's one pod process, found {pids}"
        probe.pod_pids.update(pids)
        os.kill(pids.pop(), signal.SIGKILL)

        events = probe.wait_terminal(job_id, timeout=120)
        types = [e.type for e in events]
        assert types[-1] == "JobCompleted", types
        failed = [e for e in events if e.type == "RunFailed"]
        assert len(failed) == 1 and failed[0].run_id == f"{job_id}-a1" and failed[0].retryable
        assert "died" in failed[0].reason or "exited" in failed[0].reason, failed[0].reason
        assert [e.attempt for e in events if e.type == "PodRequested"] == [1, 2]
        second = [e for e in events if e.type == "RunRequested" and e.attempt == 2]
        assert len(second) == 1 and second[0].resume_from == checkpoint.checkpoint_key
        resumed = [e.round for e in events if e.type == "RunProgressed" and e.run_id == f"{job_id}-a2"]
        assert resumed and min(resumed) > checkpoint.round - 1, (
            "the second run did not resume from the checkpoint"
        )
        assert max(resumed) == rounds
        requested = {e.pod_name for e in events if e.type == "PodRequested"}
        terminated = [e.pod_name for e in events if e.type == "PodTerminated"]
        assert sorted(terminated) == sorted(requested), "every provisioned pod must end in PodTerminated"
        completed = [e for e in events if e.type == "RunCompleted"]
        assert len(completed) == 1 and completed[0].run_id == f"{job_id}-a2"

        job = client.get_job(job_id)
        assert job["status"] == "completed" and job["attempt"] == 2
    assert probe.live_pod_pids() == []


def test_malformed_events_are_set_aside_without_a_crash_and_jobs_still_complete(
    platform, make_probe, client_for
):
    probe = make_probe(platform)
    pids = {name: probe.service_pid(name) for name in SERVICES}
    restarts = {name: platform.procs[name].restarts for name in SERVICES}
    with client_for(platform) as client:
        job_id = client.create_job(SEED, QUESTION, policy="heuristic", agents=12, rounds=6, random_seed=5)[
            "job_id"
        ]
        # Junk on the live job's own subjects, for every consumer: the orchestrator (PodReady,
        # RunCompleted), the podmanager (PodRequested), the reporter (ReportRequested), the graph
        # (RunCompleted). Some are not JSON at all, some are JSON of the wrong shape.
        junk = {
            "PodReady": b"\x00\xffnot json at all",
            "PodRequested": b'{"type": "PodRequested", "job_id": 42}',
            "ReportRequested": b"[1, 2, 3]",
            "RunCompleted": b'{"type": "RunCompleted", "event_id": "x"}',
        }
        subjects = {job_subject(job_id, t): payload for t, payload in junk.items()}
        for subject, payload in subjects.items():
            probe.publish_raw(subject, payload, headers={"Nats-Msg-Id": f"junk-{uuid.uuid4()}"})
        other = str(uuid.uuid4())  # and on a job nobody knows
        probe.publish_raw(
            job_subject(other, "PodReady"), b"{{{{", headers={"Nats-Msg-Id": f"junk-{uuid.uuid4()}"}
        )
        subjects[job_subject(other, "PodReady")] = b"{{{{"

        events = probe.wait_terminal(job_id, timeout=120)
        assert events[-1].type == "JobCompleted", [e.type for e in events]
        assert client.get_job(job_id)["status"] == "completed"
        # The gateway's replay skips what it cannot decode: no 500, just the real timeline.
        assert [e["type"] for e in client.events(job_id)] == [e.type for e in events]

        # Every consumer of each junk subject set it aside, with its reason and where it came from.
        deadline = time.monotonic() + 30
        consumers = {
            "PodReady": {"orchestrator"},
            "PodRequested": {"podmanager"},
            "ReportRequested": {"reporter"},
            "RunCompleted": {"orchestrator", "graph"},
        }
        while True:
            letters = probe.dead_letters()
            seen = {(h.get("Simswarm-Source-Subject"), subj.rsplit(".", 1)[-1]) for subj, h, _ in letters}
            want = {(s, c) for s in subjects for c in consumers[s.rsplit(".", 1)[-1]]}
            if want <= seen or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert want <= seen, f"not dead-lettered: {sorted(want - seen)}"
        for _subj, headers, payload in letters:
            if headers.get("Simswarm-Source-Subject") in subjects:
                assert payload == subjects[headers["Simswarm-Source-Subject"]]
                assert headers.get("Simswarm-Reason", "").startswith("malformed")

        # A second job after the junk: the platform is unharmed.
        job2 = client.create_job(SEED, QUESTION, policy="heuristic", agents=10, rounds=5, random_seed=6)[
            "job_id"
        ]
        assert probe.wait_terminal(job2, timeout=120)[-1].type == "JobCompleted"

    assert {name: probe.service_pid(name) for name in SERVICES} == pids, "a service restarted"
    assert {name: platform.procs[name].restarts for name in SERVICES} == restarts
    assert all(platform.procs[name].proc.poll() is None for name in SERVICES)
    assert probe.live_pod_pids() == []


def test_an_unreachable_object_store_fails_the_job_with_a_reason_naming_it(
    fresh_platform, make_probe, client_for
):
    """SeaweedFS dies while the job's pod is starting and does not come back: the run cannot upload its
    artifacts, so the job fails (never hangs) with a reason naming the object store; /api/ready says 503."""
    sup = fresh_platform()
    probe = make_probe(sup).start_watching()
    assert sup.stack is not None and sup.stack.s3 is not None and sup.stack.s3.proc is not None
    with client_for(sup) as client:
        # 8 rounds: no checkpoint is due, so the run reaches its artifact upload quickly.
        job_id = client.create_job(SEED, QUESTION, policy="heuristic", agents=20, rounds=8, random_seed=8)[
            "job_id"
        ]
        probe.wait_for_type(job_id, "PodRequested", timeout=60)
        # `simswarm up` restarts a dead server it started; this outage is one it cannot mend (an
        # external store gone), so the store leaves its care first.
        sup.parts.pop("seaweedfs")
        sup.stack.s3.proc.kill()  # the store crashes (not a graceful stop): deterministic and immediate
        sup.stack.s3.stop()
        assert sup.stack.s3.proc.poll() is not None

        resp = httpx.get(f"{sup.api_url}/api/ready", timeout=15)
        assert resp.status_code == 503
        assert (
            "object_store" in resp.json()["detail"] and resp.json()["checks"]["object_store"] == "unavailable"
        )

        events = probe.wait_terminal(job_id, timeout=150)
        types = [e.type for e in events]
        assert types[-1] == "JobFailed", types
        reason = events[-1].reason
        assert "object store" in reason.lower(), (
            f"the failure reason does not name the object store: {reason!r}"
        )
        job = client.get_job(job_id)
        assert job["status"] == "failed" and "object store" in (job["error"] or "").lower()
        requested = {e.pod_name for e in events if e.type == "PodRequested"}
        assert requested and {e.pod_name for e in events if e.type == "PodTerminated"} == requested
    assert probe.live_pod_pids() == []
    assert all(sup.procs[name].restarts == 0 for name in SERVICES), "a service crashed on the store outage"
