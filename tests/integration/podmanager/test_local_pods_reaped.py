"""Local pods are real worker processes started by the pod manager: none may linger as a zombie.

A child that exits (on teardown, or by itself while nobody is asking the provider about it) must be
reaped by the process that started it, or it stays in the process table as `<defunct>` until that
process ends. Checked with psutil on the real `python -m engine.worker`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from services.kit.procs import alive
from services.podmanager.naming import pod_name
from services.podmanager.providers.local import LocalProvider

pytestmark = pytest.mark.integration

WORKER = [sys.executable, "-m", "engine.worker", "--host", "127.0.0.1", "--port", "{port}"]


def is_our_zombie(pid: int) -> bool:
    """True while `pid` is an exited child of this process that nobody has waited for."""
    try:
        proc = psutil.Process(pid)
        return proc.ppid() == os.getpid() and proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def has_exited(pid: int) -> bool:
    """The process no longer runs: gone from the table, or a zombie."""
    return not alive(pid)


async def reaped_within(pid: int, seconds: float) -> bool:
    """Wait (up to a generous deadline) for `pid` to have exited and not be a zombie child of ours."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if has_exited(pid) and not is_our_zombie(pid):
            return True
        await asyncio.sleep(0.1)
    return has_exited(pid) and not is_our_zombie(pid)


def provider(home: Path) -> LocalProvider:
    return LocalProvider(home / "pods", secret="s" * 32, command=WORKER, stop_grace_s=3.0)


async def start_pod(p: LocalProvider) -> tuple[str, int]:
    name = pod_name(uuid.uuid4().hex, 1)
    info = await p.provision(name, gpu_types=[], env={})
    pid = int(info.pod_id.removeprefix("local-"))
    assert psutil.Process(pid).ppid() == os.getpid()
    return name, pid


async def test_a_torn_down_local_pod_leaves_no_zombie(tmp_path: Path) -> None:
    p = provider(tmp_path)
    pids = []
    for _ in range(3):
        name, pid = await start_pod(p)
        await asyncio.sleep(0.5)
        info = await p.terminate(name)
        assert info.existed
        pids.append(pid)
    assert [pid for pid in pids if is_our_zombie(pid) or not has_exited(pid)] == []


async def test_a_worker_that_dies_by_itself_is_reaped_without_anyone_asking(tmp_path: Path) -> None:
    p = provider(tmp_path)
    name, pid = await start_pod(p)
    os.killpg(pid, signal.SIGKILL)
    # No provider call in between: the child must be reaped all the same.
    assert await reaped_within(pid, 20.0), f"worker {pid} is left as a zombie"
    found = await p.find(name)
    assert found is not None and found.status == "exited"
    await p.terminate(name)


async def test_a_pod_terminated_by_another_provider_instance_is_reaped(tmp_path: Path) -> None:
    """A podmanager rebuilt in the same process (or a second provider object) terminates the pod."""
    first = provider(tmp_path)
    name, pid = await start_pod(first)
    second = provider(tmp_path)
    info = await second.terminate(name)
    assert info.existed
    assert await reaped_within(pid, 20.0), f"worker {pid} is left as a zombie"
