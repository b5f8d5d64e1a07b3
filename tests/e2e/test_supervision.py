"""`simswarm up` supervises its servers like its services, and leaves nothing behind when it is killed.

Real processes throughout: nats-server, PostgreSQL (pgserver) and SeaweedFS are SIGKILLed and must
come back in place (same URL, data kept); a SIGKILLed `simswarm up` must take its servers and
services with it (they get SIGTERM from the kernel when it dies), and its guard PostgreSQL and the
local pods (which run outside its process tree); what is left over by any other means is stopped by
`simswarm down` or the next start over the same directory (its pid files).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from services.kit.procs import alive
from services.kit.settings import NatsLogin, write_stack_file
from services.podmanager.naming import pod_name
from services.podmanager.providers.local import LocalProvider
from simswarm.stack import PID_FILE, EmbeddedStack, NatsServer, free_port
from simswarm.supervisor import HEALTHY_AFTER_S, ServiceProcess, Supervisor, _schedule

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def wait_until(
    cond: Callable[[], bool], timeout: float, what: str, tick: Callable[[], object] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick is not None:
            tick()
        if cond():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout:.0f}s")


async def nats_works(url: str, login: NatsLogin) -> bool:
    from services.kit.bus import Bus

    bus = await Bus.connect(url, name="probe", login=login)
    try:
        await bus.ensure_streams()
        return await bus.last_seq() >= 0
    finally:
        await bus.close()


async def postgres_works(url: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


def test_the_backoff_grows_with_quick_deaths_and_starts_over_after_a_healthy_period() -> None:
    sp = ServiceProcess("orchestrator", started_at=100.0)
    delays = []
    for _ in range(4):  # dies 1 s after each start
        delays.append(_schedule(sp, sp.started_at + 1.0))
        sp.started_at = sp.next_start
    assert delays == [0.5, 1.0, 2.0, 4.0]
    # It then runs healthy for a while before dying: the next restart is prompt again.
    assert _schedule(sp, sp.started_at + HEALTHY_AFTER_S + 1) == 0.5


def test_every_server_killed_comes_back_in_place(tmp_path: Path) -> None:
    sup = Supervisor(home=tmp_path / "home", services=())
    sup.stack = EmbeddedStack(sup.home, die_with_parent=True).start()
    try:
        write_stack_file(sup.home, sup.stack.settings_values())  # as `up` does: it makes the home 0700 again
        sup.watch_parts()
        assert set(sup.parts) == {"nats", "postgres", "seaweedfs"}
        stack = sup.stack
        assert stack.nats is not None and stack.s3 is not None and stack.postgres is not None
        nats_url, s3_url, pg_url = stack.nats.url, stack.s3.endpoint, stack.database_url
        assert pg_url

        postmaster = int((stack.postgres.data_dir / "postmaster.pid").read_text().split()[0])
        for name, pid in (
            ("nats", stack.nats.proc.pid),
            ("seaweedfs", stack.s3.proc.pid),  # type: ignore[union-attr]
            ("postgres", postmaster),
        ):
            os.kill(pid, signal.SIGKILL)
            wait_until(
                lambda n=name: sup.parts[n].restarts == 1 and sup.parts[n].alive(),
                120,
                f"{name} was not restarted",
                tick=sup.check,
            )

        assert (stack.nats.url, stack.s3.endpoint, stack.database_url) == (nats_url, s3_url, pg_url)
        assert asyncio.run(nats_works(nats_url, stack.nats_login("admin")))
        with urllib.request.urlopen(f"{s3_url}/healthz", timeout=5) as resp:
            assert resp.status == 200
        assert asyncio.run(postgres_works(pg_url))
    finally:
        sup.stop()


def test_stopping_the_stack_stops_postgresql_even_after_the_home_was_made_private(tmp_path: Path) -> None:
    """`up` makes its home 0700 after the first start; pg_ctl (the `pgserver` user when root) must
    still reach the data directory to stop the server, or PostgreSQL outlives the stack."""
    stack = EmbeddedStack(tmp_path / "home").start()
    assert stack.postgres is not None
    try:
        write_stack_file(stack.home, stack.settings_values())  # makes the home private, as `up` does
        postmaster = int((stack.postgres.data_dir / "postmaster.pid").read_text().split()[0])
        assert alive(postmaster)
    finally:
        stack.stop()
    wait_until(lambda: not alive(postmaster), 30, "PostgreSQL still running after the stack stopped")


def test_a_server_left_running_is_stopped_by_the_next_start(tmp_path: Path) -> None:
    first = NatsServer(tmp_path / "nats").start()
    assert first.proc is not None
    old = first.proc.pid
    assert (tmp_path / "nats" / PID_FILE).read_text() == str(old)
    # Its starter is gone without stopping it (as after a SIGKILL where no parent-death signal exists).
    second = NatsServer(tmp_path / "nats").start()
    try:
        assert second.proc is not None and second.proc.pid != old
        first.proc.wait(timeout=15)
        assert not alive(old)
    finally:
        second.stop()
        first.stop()


def start_local_pod(home: Path) -> int:
    """A local pod in `home`'s registry, started as the pod manager starts one (the real worker, in
    its own session: outside any `up` process tree). Returns its pid."""
    provider = LocalProvider(home / "pods", secret="s" * 32)
    info = asyncio.run(provider.provision(pod_name(uuid.uuid4().hex, 1), gpu_types=[], env={}))
    return int(info.pod_id.removeprefix("local-"))


def postmaster_pid(home: Path) -> int:
    return int((home / "data" / "postgres" / "postmaster.pid").read_text().split()[0])


def start_up(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, dict[str, int]]:
    """`simswarm up` in a fresh home, ready, with a local pod running; also every pid it runs:
    services, servers, PostgreSQL, the pod and the guard (all checked alive)."""
    home, port = tmp_path / "home", free_port()
    env = dict(os.environ, SIMSWARM_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("DATABASE_URL", None)
    env.pop("S3_ENDPOINT", None)
    with open(tmp_path / "up.log", "wb") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "simswarm.cli", "up", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def ready() -> bool:
        assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/ready", timeout=2) as resp:
                return resp.status == 200
        except Exception:
            return False

    try:
        wait_until(ready, 180, "simswarm up did not become ready")
        pid_files = [
            home / "data" / "nats" / PID_FILE,
            home / "data" / "seaweedfs" / PID_FILE,
            *sorted((home / "run").glob("*.pid")),
        ]
        pids = {p.name if p.parent.name == "run" else p.parent.name: int(p.read_text()) for p in pid_files}
        pids.pop("up.pid")
        pids["postgres"] = postmaster_pid(home)
        pids["pod"] = start_local_pod(home)
        pids["guard"] = guard_pid(home)
        assert {"nats", "seaweedfs", "orchestrator.pid", "gateway.pid"} <= set(pids)
        assert all(alive(pid) for pid in pids.values())
    except BaseException:
        up.kill()
        up.wait()
        raise
    return up, home, pids


def assert_nothing_left(home: Path, pids: dict[str, int], after: str) -> None:
    wait_until(
        lambda: not any(alive(pid) for pid in pids.values()),
        90,
        f"left running after {after}: {[n for n, p in pids.items() if alive(p)]}",
    )
    assert not (home / "run" / "up.pid").exists()
    assert list((home / "pods").glob("*.json")) == []  # torn down through the provider


def test_a_sigkilled_simswarm_up_leaves_nothing_running(tmp_path: Path) -> None:
    """Services, NATS and SeaweedFS go with `up` (parent-death signal); PostgreSQL (a daemon) and a
    local pod (its own session) are stopped by up's guard, which then ends too."""
    up, home, pids = start_up(tmp_path)
    up.send_signal(signal.SIGKILL)
    up.wait()
    assert_nothing_left(home, pids, "a SIGKILL of up")


def simswarm_down(home: Path) -> str:
    """Run `simswarm down --home HOME`; what it printed (it must succeed)."""
    down = subprocess.run(
        [sys.executable, "-m", "simswarm.cli", "down", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert down.returncode == 0, down.stderr
    return down.stderr


def test_down_stops_a_running_up_as_ctrl_c_would(tmp_path: Path) -> None:
    up, home, pids = start_up(tmp_path)
    threading.Thread(target=up.wait, daemon=True).start()  # reaped as it exits (as a shell would)
    stopped = simswarm_down(home)
    assert up.wait(timeout=30) == 0  # it stopped itself, in order (not SIGKILLed)
    assert "stopped: up" in stopped, stopped
    assert_nothing_left(home, pids, "simswarm down")


def guard_pid(home: Path) -> int:
    import psutil

    found = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if "simswarm.guard" in (p.info["cmdline"] or []) and str(home) in (p.info["cmdline"] or [])
    ]
    assert len(found) == 1, found
    return found[0]


def test_down_stops_what_runs_in_a_home_without_an_up(tmp_path: Path) -> None:
    """What the next `up` does first, and `simswarm down`: the servers, a service and a local pod left
    running in a home with no `up` (its guard killed too) are stopped by their pid files and registry."""
    home = tmp_path / "home"
    stack = EmbeddedStack(home).start()  # servers that outlive their starter (no parent-death signal)
    try:
        write_stack_file(home, stack.settings_values())  # the home made private, as `up` does
        assert stack.nats is not None and stack.nats.proc is not None
        assert stack.s3 is not None and stack.s3.proc is not None
        service = subprocess.Popen(  # a stand-in service: `simswarm serve` as `up` runs it
            [sys.executable, "-c", "import time; time.sleep(600)", "simswarm.cli", "serve", "graph"],
            start_new_session=True,
        )
        (home / "run").mkdir(exist_ok=True)
        (home / "run" / "graph-2.pid").write_text(str(service.pid))
        pids = {
            "nats": stack.nats.proc.pid,
            "seaweedfs": stack.s3.proc.pid,
            "postgres": postmaster_pid(home),
            "graph-2": service.pid,
            "pod": start_local_pod(home),
        }
        assert all(alive(pid) for pid in pids.values())
        for child in (stack.nats.proc, stack.s3.proc, service):  # reaped when they end, as init would
            threading.Thread(target=child.wait, daemon=True).start()
        stopped = simswarm_down(home)
        assert [n for n, p in pids.items() if alive(p)] == []
        for name in ("nats", "seaweedfs", "postgres", "graph-2"):
            assert name in stopped, stopped
        assert list((home / "pods").glob("*.json")) == []
        assert not (home / "run" / "graph-2.pid").exists()
    finally:
        stack.stop()


def test_replicas_are_parsed_with_clear_errors_and_planned_one_process_each() -> None:
    from simswarm.supervisor import parse_replicas

    assert parse_replicas("orchestrator=2, podmanager=3") == {"orchestrator": 2, "podmanager": 3}
    assert parse_replicas("") == {}
    for bad, words in (
        ("orchestrator", "SERVICE=N"),
        ("nope=2", "SERVICE=N"),
        ("graph=two", "whole number"),
        ("graph=0", "between 1"),
        ("gateway=2", "the gateway runs once"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_replicas(bad)
    sup = Supervisor(home=Path("/nonexistent"), replicas={"orchestrator": 2, "podmanager": 2})
    plan = [(sp.name, sp.command) for sp in sup.process_plan()]
    assert plan == [
        ("orchestrator", "orchestrator"),
        ("orchestrator-2", "orchestrator"),
        ("podmanager", "podmanager"),
        ("podmanager-2", "podmanager"),
        ("reporter", "reporter"),
        ("graph", "graph"),
        ("gateway", "gateway"),
    ]


def test_each_replica_gets_its_own_metrics_port(tmp_path: Path) -> None:
    """Two processes of one service cannot share a port: each replica is its own scrape target."""
    sup = Supervisor(home=tmp_path, replicas={"orchestrator": 2, "graph": 3})
    sup._assign_metrics_ports()
    names = [sp.name for sp in sup.process_plan() if sp.command != "gateway"]
    assert sorted(sup.metrics_ports) == sorted(names) and len(names) == 7
    assert len(set(sup.metrics_ports.values())) == len(names)
    targets = json.loads((tmp_path / "metrics.json").read_text())
    for name, port in sup.metrics_ports.items():
        assert targets[name] == f"http://127.0.0.1:{port}/metrics"
    assert "/metrics" in targets["gateway"]
