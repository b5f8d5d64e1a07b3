"""Process liveness on this machine, through psutil (one place, no reading of /proc by hand).

A zombie counts as gone: it has exited and only waits for its parent to reap it. A process owned by
another user (kill(0) would say EPERM) counts as alive. `start_ticks` identifies one process over
time: a pid the system has reused for another process has another start time.
"""

from __future__ import annotations

import os

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
