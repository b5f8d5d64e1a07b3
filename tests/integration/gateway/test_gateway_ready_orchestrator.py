"""`/api/ready` reflects the orchestrator's health, not only the gateway's own connections.

The orchestrator runs as its own process (as `simswarm up` runs it). Frozen with SIGSTOP it answers
nothing and the gateway says 503 naming it; with SIGCONT it recovers. With its event store blocked
(a stuck statement, the failure of issue 9) the process still answers, but its pipeline has stopped,
and the gateway says 503 with the orchestrator's own account of what is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.orchestrator.main import OrchestratorOptions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
RUNNER = """
import asyncio, json, os, signal
import msgspec
from services.kit.settings import Settings
from services.orchestrator.main import OrchestratorOptions, serve

conf = json.loads(os.environ["TEST_ORCHESTRATOR"])
settings = Settings.model_validate(conf["settings"])
options = msgspec.convert(conf["options"], OrchestratorOptions)

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await serve(settings, stop, options)

asyncio.run(main())
"""


def _start(settings: Any, opts: OrchestratorOptions, log: Path) -> subprocess.Popen[bytes]:
    conf = {"settings": settings.model_dump(mode="json"), "options": msgspec.to_builtins(opts)}
    env = {**os.environ, "TEST_ORCHESTRATOR": json.dumps(conf), "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", RUNNER], cwd=ROOT, env=env, stdout=out, stderr=out)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@contextlib.asynccontextmanager
async def _orchestrator_process(settings: Any, opts: OrchestratorOptions, log: Path) -> AsyncIterator[Any]:
    proc = await asyncio.to_thread(_start, settings, opts, log)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)


async def _until(
    what: str, check: Callable[[], Awaitable[Any]], proc: Any, log: Path, timeout: float = 60.0
) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` (and the process's log)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the orchestrator exited ({proc.returncode}):\n{_tail(log)}")
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s; log:\n{_tail(log)}")


def _ready_is(client: Any, status: int) -> Callable[[], Awaitable[Any]]:
    async def check() -> Any:
        r = await client.get("/api/ready")
        return r if r.status_code == status else None

    return check


async def test_ready_goes_503_while_the_orchestrator_is_frozen_and_recovers(
    settings, gateway_factory, orchestrator_options, tmp_path
):
    opts = orchestrator_options()
    log = tmp_path / "orchestrator.log"
    async with _orchestrator_process(settings, opts, log) as proc:
        async for gw in gateway_factory(opts.projections_schema):
            r = await _until("readiness with the orchestrator up", _ready_is(gw.client, 200), proc, log)
            assert r.json()["checks"]["orchestrator"] == "ok"

            os.kill(proc.pid, signal.SIGSTOP)
            r = await _until("503 while the orchestrator is frozen", _ready_is(gw.client, 503), proc, log)
            body = r.json()
            assert body["code"] == "not_ready" and "orchestrator unavailable" in body["detail"], body
            assert body["checks"] == {
                "nats": "ok",
                "postgres": "ok",
                "object_store": "ok",
                "orchestrator": "unavailable",
            }

            os.kill(proc.pid, signal.SIGCONT)
            await _until("readiness after SIGCONT", _ready_is(gw.client, 200), proc, log)


async def test_ready_goes_503_when_the_orchestrators_event_store_is_stuck(
    settings, pg_pool, gateway_factory, orchestrator_options, tmp_path
):
    """The process and its NATS connection are fine; its database work is not. Ready must say so."""
    opts = orchestrator_options(health_stale_s=3.0)
    log = tmp_path / "orchestrator.log"
    async with _orchestrator_process(settings, opts, log) as proc:
        async for gw in gateway_factory(opts.projections_schema):
            await _until("readiness with the orchestrator up", _ready_is(gw.client, 200), proc, log)

            async def event_store_tables() -> list[str]:
                return [
                    r["tablename"]
                    for r in await pg_pool.fetch(
                        "SELECT tablename FROM pg_tables WHERE schemaname = $1", opts.es_schema
                    )
                ]

            tables = await _until("the orchestrator's event store tables", event_store_tables, proc, log)
            async with pg_pool.acquire() as conn, conn.transaction():
                # Hold every event-store table: each statement of the orchestrator's pipeline waits.
                names = ", ".join(f'"{opts.es_schema}"."{t}"' for t in tables)
                await conn.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
                r = await _until("503 while the event store is blocked", _ready_is(gw.client, 503), proc, log)
                body = r.json()
                assert body["checks"]["orchestrator"] == "unhealthy", body
                assert "no successful pass" in body["detail"], body
                assert body["checks"]["postgres"] == "ok"  # the gateway's own database check cannot see it
            await _until("readiness once the event store is free", _ready_is(gw.client, 200), proc, log)
