"""The orchestrator's pipeline health: stale loops and stuck work are reported, fresh ones are not."""

from __future__ import annotations

import asyncio

import msgspec

from contracts.commands import HealthReply
from services.orchestrator.health import PipelineHealth


class Loop:
    def __init__(self) -> None:
        self.last_ok: float | None = None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fresh_loops_are_healthy_and_stale_ones_are_named():
    clock, relay, projection = Clock(), Loop(), Loop()
    health = PipelineHealth({"relay": relay, "projection": projection}, stale_after_s=30, clock=clock)
    clock.now += 10  # neither has passed yet, but start-up is recent
    assert health.report().ok
    relay.last_ok = projection.last_ok = clock.now
    clock.now += 31
    projection.last_ok = clock.now - 1
    report = health.report()
    assert not report.ok and report.problems == ["relay: no successful pass for 31 s"]
    assert report.loop_ages_s == {"relay": 31.0, "projection": 1.0}


def test_a_loop_that_never_passed_is_stale_after_the_threshold():
    clock, relay = Clock(), Loop()
    health = PipelineHealth({"relay": relay}, stale_after_s=30, clock=clock)
    clock.now += 45
    assert health.report().problems == ["relay: no successful pass for 45 s since start-up"]


async def test_work_in_progress_past_the_limit_is_reported_and_the_answer_is_a_health_reply():
    clock, relay = Clock(), Loop()
    health = PipelineHealth({"relay": relay}, stale_after_s=30, work_limit_s=30, clock=clock)
    started, release = asyncio.Event(), asyncio.Event()

    async def stuck(data: bytes) -> bytes:
        started.set()
        await release.wait()
        return data

    task = asyncio.create_task(health.track("command simswarm.cmd.job.create", stuck)(b"x"))
    await started.wait()
    clock.now += 40
    relay.last_ok = clock.now
    reply = msgspec.json.decode(await health.answer(b""), type=HealthReply)
    assert not reply.ok and reply.in_progress == 1 and reply.oldest_work_s == 40.0
    assert reply.problems == ["command simswarm.cmd.job.create: running for 40 s"]
    release.set()
    assert await task == b"x"
    assert health.report().ok and health.report().in_progress == 0
