"""Fixtures for the gateway's integration tests: the app on the real servers, two users, and a
tiny command responder that answers CreateJob/CancelJob on the real NATS subjects (our own
protocol on the real bus) by writing projection rows, as the orchestrator would.

Each test gets its own `gateway` and `projections` schemas, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest_asyncio
import uvicorn

from contracts.commands import CancelJob, CommandReply, CreateJob, HealthReply
from contracts.subjects import CMD_CANCEL_JOB, CMD_CREATE_JOB, CMD_ORCHESTRATOR_HEALTH
from services.gateway.accounts import ensure_local_user
from services.gateway.app import create_app
from services.orchestrator.projection import JobsProjection
from simswarm.stack import free_port
from tests.integration.schemas import drop_schema

_JSON_COLS = {"markets", "prices", "final_prices", "pod", "artifacts", "timings"}


@dataclass
class Gateway:
    client: httpx.AsyncClient
    app: Any
    pool: Any
    bus: Any
    store: Any
    proj: str
    alice: str
    bob: str
    alice_key: str
    bob_key: str
    commands: list[Any] = field(default_factory=list)

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    @property
    def as_alice(self) -> dict[str, str]:
        return self.auth(self.alice_key)

    @property
    def as_bob(self) -> dict[str, str]:
        return self.auth(self.bob_key)

    async def put_job(self, job_id: str | None = None, **values: Any) -> str:
        """Write a projection row directly, as the orchestrator's projector would."""
        now = datetime.now(UTC)
        row: dict[str, Any] = {
            "job_id": job_id or uuid.uuid4().hex,
            "owner_id": self.alice,
            "status": "created",
            "stage": "created",
            "tier": "small",
            "goal": "Will it rain tomorrow?",
            "policy": "heuristic",
            "agents": 10,
            "rounds": 15,
            "round": 0,
            "attempt": 1,
            "created_at": now,
            "updated_at": now,
            "markets": [],
            "prices": {},
            "final_prices": {},
            "artifacts": [],
            "timings": {},
            "version": 1,
        }
        row.update(values)
        cols = list(row)
        args = [json.dumps(row[c]) if c in _JSON_COLS and row[c] is not None else row[c] for c in cols]
        marks = ", ".join(f"${i}" + ("::jsonb" if c in _JSON_COLS else "") for i, c in enumerate(cols, 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "job_id")
        await self.pool.execute(
            f"INSERT INTO {self.proj}.jobs ({', '.join(cols)}) VALUES ({marks}) "
            f"ON CONFLICT (job_id) DO UPDATE SET {updates}",
            *args,
        )
        return str(row["job_id"])


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


async def _answer_commands(gw: Gateway) -> None:
    """Answer on the real command subjects the way the orchestrator does (for tests only)."""

    async def on_create(data: bytes) -> bytes:
        cmd = msgspec.json.decode(data, type=CreateJob)
        gw.commands.append(cmd)
        if cmd.spec.seed_text.startswith("REJECT"):
            return msgspec.json.encode(
                CommandReply(ok=False, error="seed_text: rejected", code="invalid_spec")
            )
        await gw.put_job(cmd.job_id, owner_id=cmd.owner_id, tier=cmd.spec.tier.value, goal=cmd.spec.goal)
        row = await gw.pool.fetchrow(f"SELECT * FROM {gw.proj}.jobs WHERE job_id = $1", cmd.job_id)
        job = {
            k: (json.loads(v) if k in _JSON_COLS and isinstance(v, str) else v) for k, v in dict(row).items()
        }
        return msgspec.json.encode(CommandReply(ok=True, job=_row_json(job)))

    async def on_health(data: bytes) -> bytes:  # its pipeline is this function: alive while it answers
        return msgspec.json.encode(HealthReply(ok=True))

    async def on_cancel(data: bytes) -> bytes:
        cmd = msgspec.json.decode(data, type=CancelJob)
        gw.commands.append(cmd)
        await gw.pool.execute(
            f"UPDATE {gw.proj}.jobs SET status = 'cancelling', stage = 'cancelling' WHERE job_id = $1",
            cmd.job_id,
        )
        return msgspec.json.encode(CommandReply(ok=True))

    await gw.bus.serve(CMD_CREATE_JOB, "orchestrator", on_create)
    await gw.bus.serve(CMD_CANCEL_JOB, "orchestrator", on_cancel)
    await gw.bus.serve(CMD_ORCHESTRATOR_HEALTH, "orchestrator", on_health)


async def make_gateway(
    settings: Any, bus: Any, store: Any, pg_pool: Any, projection_schema: str | None = None
) -> AsyncIterator[Gateway]:
    """The app (lifespan entered) and a client; its own projection schema unless one is given."""
    tag = uuid.uuid4().hex[:10]
    gschema, pschema = f"gw_{tag}", projection_schema or f"proj_{tag}"
    if projection_schema is None:
        # The orchestrator's own tables, so the rows the tests write meet its constraints.
        await JobsProjection(None, pool=pg_pool, schema=pschema).migrate()  # type: ignore[arg-type]
    app = create_app(
        settings,
        bus=bus,
        store=store,
        pool=pg_pool,
        gateway_schema=gschema,
        projection_schema=pschema,
        sse_ping_s=0.2,
    )
    alice, alice_key = await ensure_local_user(pg_pool, f"alice-{tag}@example.com", schema=gschema)
    bob, bob_key = await ensure_local_user(pg_pool, f"bob-{tag}@example.com", schema=gschema)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=30) as client,
        ):
            yield Gateway(client, app, pg_pool, bus, store, pschema, alice, bob, alice_key, bob_key)
    finally:
        await drop_schema(pg_pool, gschema)
        if projection_schema is None:
            await drop_schema(pg_pool, pschema)


@pytest_asyncio.fixture
async def gw(settings: Any, bus: Any, store: Any, pg_pool: Any) -> AsyncIterator[Gateway]:
    """The gateway with a command responder answering for the orchestrator."""
    async for g in make_gateway(settings, bus, store, pg_pool):
        await _answer_commands(g)
        yield g


@pytest_asyncio.fixture
def gateway_factory(settings: Any, bus: Any, store: Any, pg_pool: Any) -> Any:
    """Build a gateway over a given projection schema (for tests with the real orchestrator)."""
    return lambda projection_schema: make_gateway(settings, bus, store, pg_pool, projection_schema)


@pytest_asyncio.fixture
async def gw_no_orchestrator(settings: Any, bus: Any, store: Any, pg_pool: Any) -> AsyncIterator[Gateway]:
    """The gateway with nobody answering commands."""
    async for g in make_gateway(settings, bus, store, pg_pool):
        yield g


@asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """uvicorn on 127.0.0.1 over an app whose lifespan a fixture already entered: its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not server.started:
        assert not task.done(), task.exception()
        assert loop.time() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def served_gateway(settings: Any, timeout_s: float = 30.0) -> AsyncIterator[str]:
    """`services.gateway.main.serve` exactly as `simswarm serve gateway` runs it, on a free port: its
    base URL once /api/health answers (not /api/ready: no orchestrator runs here); stopped after."""
    from services.gateway.main import serve

    settings.gateway_port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    base = f"http://127.0.0.1:{settings.gateway_port}"
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            while True:
                try:
                    if (await client.get("/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert not task.done(), task.exception()
                assert loop.time() < deadline, "the gateway did not answer /api/health"
                await asyncio.sleep(0.1)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
