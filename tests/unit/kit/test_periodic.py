"""The one periodic loop: a failing step is logged and tried again; only `stop` ends it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.kit.periodic import every


async def test_a_failing_step_is_logged_and_the_loop_goes_on_until_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    calls: list[int] = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("database away")
        if len(calls) == 3:
            stop.set()

    log = logging.getLogger("test.periodic")
    with caplog.at_level(logging.WARNING, logger="test.periodic"):
        await asyncio.wait_for(every(0.01, stop, step, what="refresh", log=log), 30)
    assert calls == [0, 1, 2]  # went on after the failure, ended at stop without another step
    assert [r.getMessage() for r in caplog.records] == ["refresh failed: database away; again in 0.01 s"]


async def test_a_stopped_loop_runs_no_step() -> None:
    stop = asyncio.Event()
    stop.set()

    async def step() -> None:
        raise AssertionError("ran after stop")

    await every(3600, stop, step, what="never", log=logging.getLogger("test.periodic"))
