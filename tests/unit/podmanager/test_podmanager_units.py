"""Pod naming, token derivation, progress -> events, artifact checks, reaper decisions (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from contracts.events import RunCheckpointed, RunProgressed, RunRequested, RunStarted, new_event
from contracts.spec import JobSpec, MarketSpec, resolve_run
from contracts.worker import ArtifactDigest, PostPreview, ProgressEvent
from services.podmanager import progress
from services.podmanager.naming import parse_pod_name, pod_name, pod_token, run_id
from services.podmanager.providers.base import PodInfo, WorkerEndpoint
from services.podmanager.reaper import decide_strays


def test_pod_name_round_trips_job_id_and_attempt() -> None:
    name = pod_name("job-with-dashes-a9", 3)
    assert name == "simswarm-job-with-dashes-a9-a3"
    assert parse_pod_name(name) == ("job-with-dashes-a9", 3)
    assert run_id("j1", 2) == "j1-a2"
    assert parse_pod_name("someone-elses-pod") is None
    assert parse_pod_name("simswarm-noattempt") is None


def test_pod_token_is_stable_per_name_and_secret() -> None:
    a = pod_token("s3cret", "simswarm-j-a1")
    assert a == pod_token("s3cret", "simswarm-j-a1")
    assert a != pod_token("s3cret", "simswarm-j-a2")
    assert a != pod_token("other", "simswarm-j-a1")
    assert len(a) == 64 and int(a, 16) >= 0
    with pytest.raises(ValueError):
        pod_token("", "simswarm-j-a1")


def test_worker_endpoint_repr_hides_token() -> None:
    ep = WorkerEndpoint(base_url="http://x", token="tok-123")
    assert "tok-123" not in repr(ep)


def _ctx() -> progress.RunContext:
    req = new_event(
        RunRequested,
        "job1",
        attempt=2,
        run_id="job1-a2",
        pod_name="simswarm-job1-a2",
        artifact_prefix="jobs/job1/artifacts",
    )
    return progress.RunContext(req, agents=12, rounds=6, checkpoint_key="jobs/job1/checkpoints/latest.ckpt")


def test_progress_maps_to_events_with_deterministic_ids() -> None:
    ctx = _ctx()
    started = progress.progress_event(ProgressEvent(seq=1, kind="started", rounds=6), ctx)
    assert isinstance(started, RunStarted) and started.agents == 12 and started.rounds == 6
    r1 = progress.progress_event(
        ProgressEvent(seq=2, kind="round", round=1, rounds=6, prices={"q": 0.6}), ctx
    )
    again = progress.progress_event(
        ProgressEvent(seq=2, kind="round", round=1, rounds=6, prices={"q": 0.6}), ctx
    )
    assert isinstance(r1, RunProgressed) and r1.prices == {"q": 0.6}
    assert isinstance(again, RunProgressed) and r1.event_id == again.event_id
    r2 = progress.progress_event(ProgressEvent(seq=3, kind="round", round=2, rounds=6), ctx)
    assert r2 is not None and r2.event_id != r1.event_id
    ck = progress.progress_event(ProgressEvent(seq=4, kind="checkpoint", round=2, rounds=6), ctx)
    assert isinstance(ck, RunCheckpointed) and ck.checkpoint_key.endswith("latest.ckpt")
    assert progress.progress_event(ProgressEvent(seq=5, kind="completed"), ctx) is None
    assert r2.posts == []  # an older worker sends no previews: the event still validates
    assert r1.causation_id == ctx.request.event_id and r1.correlation_id == ctx.request.correlation_id


def test_terminal_events_carry_run_outcome() -> None:
    ctx = _ctx()
    failed = progress.run_failed(ctx, "pod died", retryable=True)
    assert (
        failed.retryable
        and failed.event_id == progress.run_failed(ctx, "other words", retryable=True).event_id
    )
    done = progress.run_completed(
        ctx, ProgressEvent(seq=9, kind="completed", prices={"q": 0.7}, engine_seconds=3.5), []
    )
    assert done.final_prices == {"q": 0.7} and done.engine_seconds == 3.5
    assert done.artifact_prefix == "jobs/job1/artifacts"


def test_artifact_checks() -> None:
    assert (
        progress.artifact_object_key("jobs/j/artifacts/", "j", "posts.json") == "jobs/j/artifacts/posts.json"
    )
    assert progress.artifact_object_key("", "j", "posts.json") == "jobs/j/artifacts/posts.json"
    digests = [ArtifactDigest(name="a.json", size=3, sha256="ab", md5="0f" * 16)]
    assert progress.missing_artifacts(("a.json", "b.json"), digests) == ["b.json"]
    # what a HEAD of the stored object says (S3 quotes the ETag), against what the worker reported
    assert progress.stored_problem(digests[0], {"ContentLength": 3, "ETag": '"' + "0F" * 16 + '"'}) is None
    assert "bytes" in (
        progress.stored_problem(digests[0], {"ContentLength": 4, "ETag": '"' + "0f" * 16 + '"'}) or ""
    )
    assert "MD5" in (
        progress.stored_problem(digests[0], {"ContentLength": 3, "ETag": '"' + "1f" * 16 + '"'}) or ""
    )


def test_run_spec_from_what_run_requested_carries() -> None:
    spec = JobSpec(
        seed_text="seed",
        goal="Will it rain tomorrow?",
        agents=7,
        rounds=4,
        policy="heuristic",
        markets=[MarketSpec(question="Rain?", initial_price_yes=0.99)],
    )
    rs = progress.build_run_spec(spec, resolve_run(spec, random_seed=5), "http://llm/v1")
    assert (rs.agents, rs.rounds, rs.policy, rs.random_seed, rs.llm_url) == (
        7,
        4,
        "heuristic",
        5,
        "http://llm/v1",
    )
    assert rs.markets[0].initial_price_yes == 0.95  # the resolved (clamped) market, not the raw one


def _pod(name: str, age_s: float | None) -> PodInfo:
    created = datetime.fromtimestamp(1_000_000 - age_s, UTC) if age_s is not None else None
    return PodInfo(name=name, pod_id=f"id-{name}", provider="local", status="running", created_at=created)


def test_reaper_decisions() -> None:
    now = 1_000_000.0
    pods = [
        _pod("simswarm-live-a1", 999),  # job live: kept
        _pod("simswarm-dead-a1", 500),  # job not live, old: reaped
        _pod("simswarm-young-a1", 10),  # job not live, within grace: kept
        _pod("simswarm-gone-a2", 5),  # tombstoned: reaped at once
        _pod("simswarm-weird", 9999),  # not our naming: never touched
        _pod("simswarm-noage-a1", None),  # age unknown, seen long ago by the reaper: reaped
    ]
    first_seen = {"simswarm-noage-a1": now - 300}
    strays = decide_strays(
        pods,
        live_job_ids={"live"},
        tombstoned={"simswarm-gone-a2"},
        first_seen=first_seen,
        now=now,
        grace_s=120,
    )
    assert sorted((s.pod.name, s.job_id) for s in strays) == [
        ("simswarm-dead-a1", "dead"),
        ("simswarm-gone-a2", "gone"),
        ("simswarm-noage-a1", "noage"),
    ]


def test_reaper_never_guesses_liveness() -> None:
    pods = [_pod("simswarm-dead-a1", 500), _pod("simswarm-gone-a1", 500)]
    strays = decide_strays(
        pods, live_job_ids=None, tombstoned={"simswarm-gone-a1"}, first_seen={}, now=1_000_000.0, grace_s=120
    )
    assert [s.pod.name for s in strays] == ["simswarm-gone-a1"]


def test_round_event_carries_the_workers_post_previews() -> None:
    ctx = _ctx()
    previews = [
        PostPreview(
            post_id="p9",
            author="Ada",
            stakeholder="Regulator",
            text="Rates will hold.",
            stance=0.4,
            claim_id="c1",
        ),
        PostPreview(post_id="p7", author="Bo", text="No way.", stance=-0.5),
    ]
    r1 = progress.progress_event(ProgressEvent(seq=2, kind="round", round=1, rounds=6, posts=previews), ctx)
    assert isinstance(r1, RunProgressed) and r1.posts == previews
    # It survives the wire (JetStream JSON) as the same previews.
    back = msgspec.json.decode(msgspec.json.encode(r1), type=RunProgressed)
    assert back.posts == previews
