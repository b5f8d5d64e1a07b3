"""Scale-out on loopback with real processes: a 3-node NATS cluster (streams at replication 3) and two
replicas of every back-end service, jobs running while one NATS node and one replica of each service
are SIGKILLed. Every job must still complete, with no duplicated effect: one JobCompleted, one
report, one pod requested and one torn down per attempt, and no pod process left.

The orchestrator runs partitioned (docs/orchestrator.md#partitions): its replicas share the
partitions' consumers, so the surviving one takes over the killed one's partitions. The gateway is
not part of it (one port; jobs are created with the CreateJob command it would send).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from contracts.commands import CommandReply, CreateJob
from contracts.events import AnyEvent
from contracts.spec import JobSpec, local_tiers
from contracts.subjects import CMD_CREATE_JOB
from services.kit import procs
from services.kit.bus import Bus
from services.kit.procs import alive
from services.kit.settings import NatsLogin, write_stack_file
from simswarm.guard import stop_local_pods
from simswarm.nats_auth import ensure_credentials
from simswarm.stack import EmbeddedStack, NatsServer, _wait_http, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SERVICES = ("orchestrator", "podmanager", "reporter", "graph")
JOBS = 6
SEED = (
    "Senator Lopez backs the Clean Energy Act; the Chamber of Commerce opposes it. Unions rallied in "
    "the capital while the Governor said she would sign a compromise bill before the summer recess."
)
GOAL = "Will the Clean Energy Act pass by June?"
ADMIN: NatsLogin | None = None  # the test's own connections (set from the cluster's passwords)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cluster(tmp_path: Path, home: Path) -> Iterator[list[NatsServer]]:
    """Three JetStream nodes routed to one another, every service as its own user."""
    ports = [free_port() for _ in range(3)]
    passwords = ensure_credentials(home)
    nodes = [
        NatsServer(
            tmp_path / "nats" / f"n{i}",
            passwords=passwords,
            server_name=f"node{i}",
            cluster_port=ports[i],
            routes=tuple(f"nats://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i),
        )
        for i in range(3)
    ]
    try:
        for node in nodes:
            node.start()
        for node in nodes:  # healthy once JetStream is up with its peers (so only after all started)
            log = node.data_dir / "nats-server.log"
            _wait_http(f"http://127.0.0.1:{node.monitor_port}/healthz", 60, node.proc, node.server_name, log)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def ensure_streams(url: str) -> None:
    """The streams at replication 3, once the cluster has elected its JetStream meta leader."""
    deadline = time.monotonic() + 60
    while True:
        try:
            bus = await Bus.connect(url, name="test-admin", login=ADMIN)
            try:
                await bus.ensure_streams(3)
                return
            finally:
                await bus.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def fresh_database(url: str) -> str:
    import asyncpg

    name = f"scale_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    assert "/postgres?" in url, url
    return url.replace("/postgres?", f"/{name}?", 1)


async def create_jobs(url: str, job_ids: list[str]) -> None:
    bus = await Bus.connect(url, name="test-client", login=ADMIN)
    try:
        for i, job_id in enumerate(job_ids):
            spec = JobSpec(seed_text=SEED, goal=GOAL, policy="heuristic", agents=12, rounds=60, random_seed=i)
            for _ in range(60):  # the orchestrators subscribe a moment after they start
                try:
                    reply = await bus.request(
                        CMD_CREATE_JOB,
                        CreateJob(job_id=job_id, owner_id="u1", spec=spec),
                        CommandReply,
                        timeout=10,
                    )
                    break
                except Exception:
                    await asyncio.sleep(1)
            else:
                raise AssertionError("no orchestrator answered CreateJob")
            assert reply.ok, reply.error
    finally:
        await bus.close()


async def timelines(url: str, job_ids: list[str]) -> dict[str, list[AnyEvent]]:
    """Every job's timeline; while the cluster elects new leaders after the kill a read may be
    refused (503): read again."""
    for _ in range(30):
        bus = await Bus.connect(url, name="test-reader", login=ADMIN)
        try:
            return {j: [e for _, e in await bus.job_events(j)] for j in job_ids}
        except Exception:
            await asyncio.sleep(1)
        finally:
            await bus.close()
    raise AssertionError("the job stream could not be read for 30 s")


def wait_for(cond, timeout: float, what: str, every: float = 1.0, detail=lambda: ""):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(every)
    pytest.fail(f"{what} within {timeout:.0f}s{detail()}")


# What each service logs once its consumers are bound (services/*/main.py, services/kit/worker.py).
STARTED = {
    "orchestrator": "orchestrator ready",
    "podmanager": "podmanager serving",
    "reporter": "consuming",
    "graph": "consuming",
}


def started(home: Path, replica: str) -> bool:
    """Whether `replica` (`<service>-<i>`) has said that it consumes."""
    log = (home / "logs" / f"{replica}.log").read_text(errors="replace")
    return STARTED[replica.rsplit("-", 1)[0]] in log


def not_started(home: Path, replicas: dict[str, subprocess.Popen[bytes]]) -> str:
    """Which replicas have not said they consume, whether each still runs, and its log's last lines."""
    lines = []
    for name, proc in replicas.items():
        if not started(home, name):
            tail = (home / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-8:]
            state = "running" if proc.poll() is None else f"exited {proc.returncode}"
            lines.append(f"\n{name} ({state}):\n  " + "\n  ".join(tail))
    return "".join(lines)


def test_two_replicas_of_everything_survive_a_node_and_a_replica_each(cluster, stack, home: Path) -> None:
    global ADMIN
    ADMIN = NatsLogin(user="admin", password=cluster[0].passwords["admin"])
    urls = ",".join(n.url for n in cluster)
    asyncio.run(ensure_streams(urls))
    database_url = asyncio.run(fresh_database(stack.database_url))  # its own orchestrator schemas
    assert isinstance(stack, EmbeddedStack) and stack.s3 is not None
    write_stack_file(
        home,
        {
            "nats_url": urls,
            "database_url": database_url,
            "s3_endpoint": stack.s3_endpoint,
            "s3_access_key": stack.s3.access_key,
            "s3_secret_key": stack.s3.secret_key,
            "s3_bucket": f"scale-{uuid.uuid4().hex[:8]}",
            "stream_replicas": 3,
            "orchestrator_partitions": 4,
            "tiers": msgspec.to_builtins(local_tiers()),
        },
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "SIMSWARM_", "S3_", "DATABASE_"))
    }
    env.update(SIMSWARM_HOME=str(home), PYTHONUNBUFFERED="1")
    (home / "logs").mkdir(exist_ok=True)
    replicas: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in SERVICES:
            for r in (1, 2):
                with open(home / "logs" / f"{name}-{r}.log", "ab") as out:
                    replicas[f"{name}-{r}"] = subprocess.Popen(
                        [sys.executable, "-m", "simswarm.cli", "serve", name],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env=env,
                    )
        # Every replica's consumers bound before the kills: on a loaded machine one may still be
        # starting, and a process that cannot reach its streams during the cluster's election exits
        # (its supervisor restarts it; here nobody does, and the jobs would wait for it for ever).
        wait_for(
            lambda: all(started(home, name) for name in replicas),
            300,
            "not every replica started",
            detail=lambda: not_started(home, replicas),
        )
        job_ids = [f"scale{uuid.uuid4().hex[:12]}" for _ in range(JOBS)]
        asyncio.run(create_jobs(urls, job_ids))

        def running() -> bool:
            lines = asyncio.run(timelines(urls, job_ids))
            return sum(any(e.type == "RunProgressed" for e in tl) for tl in lines.values()) >= 2

        wait_for(running, 300, "no two jobs were running")
        # Mid-run: one NATS node and one replica of each service, at once, with no warning.
        os.kill(cluster[0].proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        for name in SERVICES:
            os.kill(replicas[f"{name}-1"].pid, signal.SIGKILL)
        survivors = [n.url for n in cluster[1:]]
        alive_urls = ",".join(survivors)

        def all_done() -> dict[str, list[AnyEvent]] | None:
            lines = asyncio.run(timelines(alive_urls, job_ids))
            done = all(
                any(e.type in ("JobCompleted", "JobFailed", "JobCancelled") for e in tl)
                for tl in lines.values()
            )
            return lines if done else None

        lines = wait_for(all_done, 480, "not every job ended", every=2.0)
        for name in SERVICES:
            assert replicas[f"{name}-2"].poll() is None, f"the surviving {name} replica died; see {home}/logs"
        time.sleep(3)  # a duplicate published late would show up in a re-read
        lines = asyncio.run(timelines(alive_urls, job_ids))
        for job_id, tl in lines.items():
            types = Counter(e.type for e in tl)
            failures = [e.reason for e in tl if e.type == "RunFailed"]  # type: ignore[union-attr]
            assert types["JobCompleted"] == 1 and types["JobFailed"] == 0, (
                job_id,
                types,
                failures,
                str(home),
            )
            assert types["ReportWritten"] == 1 and types["ReportRequested"] == 1, (job_id, types)
            assert types["RunCompleted"] == 1, (job_id, types)
            requested = Counter(e.attempt for e in tl if e.type == "PodRequested")  # type: ignore[union-attr]
            torn_down = Counter(e.attempt for e in tl if e.type == "PodTerminated")  # type: ignore[union-attr]
            assert set(requested.values()) == {1} and requested == torn_down, (job_id, requested, torn_down)
        pods = [json.loads(p.read_text()) for p in (home / "pods").glob("*.json")]
        assert not [p for p in pods if alive(int(p["pid"]))], pods
    finally:
        procs.stop([proc.pid for proc in replicas.values() if proc.poll() is None], timeout=20)
        stop_local_pods(home)
