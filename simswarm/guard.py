"""What a `simswarm up` that died without stopping leaves running, and the guard that stops it.

Services and NATS/SeaweedFS get SIGTERM from the kernel when `up` dies (PR_SET_PDEATHSIG, Linux), but
PostgreSQL is a daemon (pg_ctl starts it outside `up`'s process tree) and local pods run in their
own sessions: after a SIGKILL of `up` both kept running, billing memory, CPU or a GPU, until some
later `up` happened to reuse them. So:

* `up` starts a guard (`python -m simswarm.guard HOME PID`) in its own session, with one end of a
  pipe as its stdin. The kernel closes the pipe when `up` ends, however it ends; the guard then
  finds `run/up.pid` still naming that `up` (a clean stop removes it) and stops what it left.
* `up` runs the same `stop_leftovers` when it starts (in case the guard was killed too), and
  `simswarm down` runs it after stopping a running `up`.

`run/cleanup.lock` (flock) keeps a guard and a new `up` from cleaning the same home at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from services.kit import procs
from services.kit.settings import Settings, load_settings
from simswarm.stack import PID_FILE, PostgresServer, stale_pid

log = logging.getLogger(__name__)

UP_PID = "up.pid"


def home_settings(home: Path) -> Settings:
    """The settings every process of this home's `up` reads (its environment, this home)."""
    return load_settings(home=home)  # `home` wins over SIMSWARM_HOME


@contextlib.contextmanager
def cleanup_lock(home: Path) -> Iterator[None]:
    """Held while a home's leftovers are stopped (a guard and a new `up` may both try)."""
    run_dir = home / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "cleanup.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def stop_leftovers(home: Path) -> list[str]:
    """Stop whatever of this home still runs without an `up` (call under `cleanup_lock`): services by
    their pid files, local pods through the pod provider, NATS and SeaweedFS by their pid files,
    PostgreSQL with pg_ctl. Returns what was found running."""
    found: list[str] = []
    services: dict[str, int] = {}
    for pid_file in sorted((home / "run").glob("*.pid")):
        if pid_file.name == UP_PID:
            continue
        service = re.sub(r"-\d+$", "", pid_file.stem)  # run/<service>.pid, run/<service>-<i>.pid
        pid = stale_pid(pid_file, "simswarm.cli", "serve", service)
        if pid is not None:
            services[pid_file.stem] = pid
        pid_file.unlink()
    procs.stop(services.values(), timeout=15)
    found += services
    found += stop_local_pods(home)
    data = home / "data"
    servers = {
        name: pid
        for name, pid in (
            ("nats", stale_pid(data / "nats" / PID_FILE, "nats-server", str(data / "nats"))),
            ("seaweedfs", stale_pid(data / "seaweedfs" / PID_FILE, "weed", str(data / "seaweedfs"))),
        )
        if pid is not None
    }
    procs.stop(servers.values(), timeout=15)
    found += servers
    postgres = PostgresServer(data / "postgres")
    if postgres.alive():
        postgres.stop()
        found.append("postgres")
    if found:
        log.warning("stopped what an earlier `simswarm up` of %s left running: %s", home, ", ".join(found))
    return found


def stop_local_pods(home: Path) -> list[str]:
    """Local pods are this machine's processes: none may outlive the stack that started them. Torn
    down through the local provider, as the pod manager tears them down (RunPod pods are left to the
    pod manager's reaper: they may belong to other pod managers of the same account)."""
    settings = home_settings(home)
    if settings.pod_provider != "local":
        return []
    from services.podmanager.providers import make_provider
    from services.podmanager.providers.base import terminate_all

    ended = asyncio.run(terminate_all(make_provider(settings)))
    return [info.name for info in ended if info.existed]


def start_guard(home: Path) -> subprocess.Popen[bytes]:
    """The guard of this process's `up`: it acts when its stdin (this end of the pipe) closes."""
    with open(home / "logs" / "guard.log", "ab") as logfile:
        return subprocess.Popen(
            [sys.executable, "-m", "simswarm.guard", str(home), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no Ctrl-C or hang-up from the terminal: it must outlive `up`
        )


def guard(home: Path, up_pid: int) -> list[str]:
    """Wait until `up` (pid `up_pid`) has ended, then stop what it left if it did not stop cleanly."""
    sys.stdin.buffer.read()  # returns at EOF: `up` closed the pipe, or died and the kernel did
    with cleanup_lock(home):
        try:
            owner = int((home / "run" / UP_PID).read_text().strip())
        except (FileNotFoundError, ValueError):
            return []  # a clean stop
        if owner != up_pid or procs.alive(up_pid):
            return []  # a newer `up` owns the home now, and cleans it itself
        stopped = stop_leftovers(home)
        (home / "run" / UP_PID).unlink()
        return stopped


def down(home: Path, timeout: float = 120.0) -> list[str]:
    """`simswarm down`: SIGTERM the `up` running from `home` (it stops everything in order, as on
    Ctrl-C; SIGKILL after `timeout`), then stop whatever is still left. Returns what was stopped."""
    stopped = []
    up = stale_pid(home / "run" / UP_PID, "simswarm", "up")
    if up is not None:
        procs.stop([up], timeout=timeout)
        stopped.append("up")
    with cleanup_lock(home):
        stopped += stop_leftovers(home)
        (home / "run" / UP_PID).unlink(missing_ok=True)
    return stopped


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    guard(Path(argv[0]), int(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
