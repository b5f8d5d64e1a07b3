"""Stop `simswarm up` and start it again on the same home: the old jobs are found, their timelines
replay unchanged, and a job that was mid-run when the stack stopped ends in a terminal state."""

from __future__ import annotations

import pytest

from simswarm.stack import free_port
from tests.e2e.conftest import QUESTION, SEED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

LIVE = {"queued", "provisioning", "running", "reporting"}


def test_the_next_up_finds_the_old_jobs_and_finishes_the_interrupted_one(
    tmp_path_factory, fresh_platform, make_probe, client_for
):
    home = tmp_path_factory.mktemp("restart")
    port = free_port()
    first = fresh_platform(home, port)
    probe = make_probe(first)
    with client_for(first) as client:
        done_id = client.create_job(SEED, QUESTION, policy="heuristic", agents=12, rounds=6, random_seed=1)[
            "job_id"
        ]
        assert probe.wait_terminal(done_id, timeout=120)[-1].type == "JobCompleted"
        done_events = probe.timeline(done_id)
        done_row = client.get_job(done_id)
        live_id = client.create_job(SEED, QUESTION, policy="heuristic", agents=30, rounds=150, random_seed=2)[
            "job_id"
        ]
        probe.wait_for_type(live_id, "RunCheckpointed", timeout=90)
        probe.pod_pids.update(probe.pod_pids_now())
    first.stop()  # what Ctrl-C does: services, then the local pods, then the servers
    assert probe.live_pod_pids() == [], "a pod process outlived `simswarm up`"
    probe.close()

    second = fresh_platform(home, port)
    probe = make_probe(second).start_watching()
    with client_for(second) as client:
        row = client.get_job(done_id)
        assert {k: row[k] for k in ("status", "finished_at", "final_prices", "verdict", "attempt")} == {
            k: done_row[k] for k in ("status", "finished_at", "final_prices", "verdict", "attempt")
        }
        listed = {j["job_id"]: j["status"] for j in client.list_jobs(per_page=50)["jobs"]}
        assert listed.get(done_id) == "completed" and live_id in listed
        replayed = probe.timeline(done_id)
        assert [e.event_id for e in replayed] == [e.event_id for e in done_events]
        assert [e["type"] for e in client.events(done_id)] == [e.type for e in done_events]
        assert "# " in client.report(done_id)

        # The interrupted job: its pod died with the stack. It must end (here: the podmanager gets its
        # RunRequested again, finds the pod gone, RunFailed(retryable); the orchestrator swaps the pod
        # and resumes from the checkpoint), never stay live forever.
        events = probe.wait_terminal(live_id, timeout=150)
        types = [e.type for e in events]
        job = client.get_job(live_id)
        assert job["status"] not in LIVE, f"job {live_id} is stuck in {job['status']}: {types}"
        # It was checkpointed before the stop, so per docs/orchestrator.md it resumes on a second pod.
        assert types[-1] == "JobCompleted" and job["status"] == "completed", (job.get("error"), types)
        failed = [e for e in events if e.type == "RunFailed"]
        assert len(failed) == 1 and failed[0].retryable and failed[0].run_id == f"{live_id}-a1", failed
        resumed = [e for e in events if e.type == "RunRequested" and e.attempt == 2]
        assert len(resumed) == 1 and resumed[0].resume_from, (
            "the second run did not resume from the checkpoint"
        )
        requested = {e.pod_name for e in events if e.type == "PodRequested"}
        assert {e.pod_name for e in events if e.type == "PodTerminated"} == requested
        ids = [e.event_id for e in events]
        assert len(ids) == len(set(ids))
    assert probe.live_pod_pids() == []
