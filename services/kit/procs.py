"""Process liveness and teardown on this machine, through psutil (one place, no /proc read by hand).

A zombie counts as gone: it has exited and only waits for its parent to reap it. A process owned by
another user (kill(0) would say EPERM) counts as alive. `start_ticks` identifies one process over
time: a pid the system has reused for another process has another start time. `stop` is the one
SIGTERM-then-SIGKILL loop: every process that stops something it started goes through it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import psutil

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie has exited: False)."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone or a zombie.

    Clock ticks (what the kernel records) rather than psutil's float seconds, so the value stored by
    an earlier process for the same pid compares equal exactly.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return None
        return round((proc.create_time() - psutil.boot_time()) * _CLOCK_TICKS)
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return 0


def stop(pids: Iterable[int], timeout: float = 10.0, kill_after: float = 5.0) -> list[int]:
    """SIGTERM every process in `pids`, wait up to `timeout` for all of them together, SIGKILL those
    still running and wait `kill_after` more. Returns the pids that outlived even that (normally none).

    A pid already gone is skipped. Children of this process are reaped by the wait, so none is left a
    zombie (a `subprocess.Popen` of one then reads its exit status as 0).
    """
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, left = psutil.wait_procs(procs, timeout=timeout)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _, left = psutil.wait_procs(left, timeout=kill_after)
    return [proc.pid for proc in left if alive(proc.pid)]
