"""Chaos figures: many small jobs while random services are SIGKILLed, and once NATS and once PostgreSQL.

    python bench/chaos.py [--jobs 100] [--agents 6] [--rounds 10] [--kill-every 10] [--timeout 900]
                          [--replicas orchestrator=2,podmanager=2]

Starts `simswarm up` (a Supervisor watched as `simswarm up` watches it: dead services and servers are
restarted) in a temporary home on loopback, submits the jobs through the REST API, and meanwhile
SIGKILLs a random service every `--kill-every` seconds, NATS once and PostgreSQL once. When every job
has ended (or `--timeout` has passed: the rest count as stuck) it prints completed / failed / stuck
jobs, leaked pods (pod processes alive after the end), duplicated effects (more than one JobCompleted,
report, or pod requested / torn down per attempt), the slowest job's time from JobCreated to its
terminal event, and whether `projections rebuild` equals the live jobs table. Prints figures;
asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lifecycle import collect, create_bench_job  # noqa: E402
from services.kit.settings import load_settings  # noqa: E402
from simswarm.client import Client  # noqa: E402
from simswarm.stack import free_port  # noqa: E402
from simswarm.supervisor import Supervisor, parse_replicas  # noqa: E402

TERMINAL = ("JobCompleted", "JobFailed", "JobCancelled")
# Rows compared between the live table and a rebuild (what the rebuild recomputes from the log).
VOLATILE = {"updated_at"}


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Chaos:
    """SIGKILLs from a thread, while another restarts what died (what `simswarm up` does)."""

    def __init__(self, sup: Supervisor, every_s: float, seed: int) -> None:
        self.sup = sup
        self.every_s = every_s
        self.rng = random.Random(seed)
        self.kills: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, daemon=True),
            threading.Thread(target=self._kill, daemon=True),
        ]
        self.lock = threading.Lock()

    def start(self) -> Chaos:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _watch(self) -> None:
        while not self._stop.is_set():
            with self.lock, contextlib.suppress(Exception):
                self.sup.check()
            time.sleep(0.3)

    def _kill_pid(self, what: str, pid: int | None) -> None:
        if pid is None or not alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            self.kills.append((time.time(), what))  # wall clock, to place it on the jobs' timelines
            print(f"  SIGKILL {what} (pid {pid})", flush=True)

    def _kill(self) -> None:
        servers = ["nats", "postgres"]
        step = 0
        while self.every_s > 0 and not self._stop.wait(self.every_s):
            step += 1
            stack = self.sup.stack
            if stack is None:
                continue
            if servers and step % 5 == 0:  # once NATS, once PostgreSQL, spread over the run
                server = servers.pop(0)
                if server == "nats" and stack.nats is not None and stack.nats.proc is not None:
                    self._kill_pid("nats-server", stack.nats.proc.pid)
                elif server == "postgres" and stack.postgres is not None:
                    with contextlib.suppress(Exception):
                        pid = int((stack.postgres.data_dir / "postmaster.pid").read_text().split()[0])
                        self._kill_pid("postgres", pid)
                continue
            with self.lock:
                name = self.rng.choice(sorted(self.sup.procs))
                proc = self.sup.procs[name].proc
            self._kill_pid(name, proc.pid if proc is not None and proc.poll() is None else None)


async def rebuild_equals_live(home: Path) -> tuple[bool, int]:
    """Snapshot projections.jobs, rebuild it from the event log, compare row by row."""
    from services.kit.db import create_pool
    from services.orchestrator.main import rebuild_projections

    settings = load_settings(home=home)
    pool = await create_pool(settings.database_url, max_size=2)

    async def rows() -> dict[str, dict[str, Any]]:
        out = {}
        for r in await pool.fetch("SELECT * FROM projections.jobs"):
            row = {k: v for k, v in dict(r).items() if k not in VOLATILE}
            out[str(row["job_id"])] = row
        return out

    try:
        live = await rows()
        count = await rebuild_projections(settings)
        rebuilt = await rows()
    finally:
        await pool.close()
    return live == rebuilt, count


def duplicates(timeline: list[Any]) -> list[str]:
    types = Counter(e.type for e in timeline)
    out = [f"{t} x{types[t]}" for t in ("JobCompleted", "ReportWritten", "RunCompleted") if types[t] > 1]
    for kind in ("PodRequested", "PodTerminated", "RunRequested"):
        per_attempt = Counter(getattr(e, "attempt", None) for e in timeline if e.type == kind)
        out += [f"{kind}(attempt {a}) x{n}" for a, n in per_attempt.items() if n > 1]
    return out


def job_seconds(timeline: list[Any]) -> float | None:
    """JobCreated -> the terminal event, or None for a job that did not end."""
    created = next((e for e in timeline if e.type == "JobCreated"), None)
    terminal = next((e for e in timeline if e.type in TERMINAL), None)
    if created is None or terminal is None:
        return None
    return float((terminal.occurred_at - created.occurred_at).total_seconds())


def print_where_time_went(timelines: dict[str, list[Any]], kills: list[tuple[float, str]], show: int) -> None:
    """Why the slowest jobs were slow: for every hop (one event to the next of the same job), the
    time summed over all jobs; then the slowest jobs' timelines with the SIGKILLs placed on them."""
    per_hop: Counter[str] = Counter()
    for tl in timelines.values():
        for a, b in zip(tl, tl[1:], strict=False):
            per_hop[f"{a.type} -> {b.type}"] += (b.occurred_at - a.occurred_at).total_seconds()
    total = sum(per_hop.values()) or 1.0
    print("\nwhere the jobs' time went (summed over all jobs, top hops):")
    for hop, secs in per_hop.most_common(6):
        print(f"  {hop:<46}{secs:9.1f} s  {100 * secs / total:5.1f} %")
    ranked = sorted(
        ((s, j) for j, tl in timelines.items() if (s := job_seconds(tl)) is not None), reverse=True
    )
    for secs, jid in ranked[:show]:
        tl = timelines[jid]
        start = tl[0].occurred_at.timestamp()
        marks = [(t, f"SIGKILL {what}") for t, what in kills if start <= t <= tl[-1].occurred_at.timestamp()]
        steps = [(e.occurred_at.timestamp(), e.type) for e in tl] + marks
        print(f"\njob {jid}: {secs:.1f} s")
        for t, what in sorted(steps):
            print(f"  +{t - start:7.1f} s  {what}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--agents", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument(
        "--kill-every", type=float, default=10.0, help="seconds between two SIGKILLs; 0: none (a baseline)"
    )
    ap.add_argument(
        "--show-slowest", type=int, default=3, help="print the timelines of this many slowest jobs"
    )
    ap.add_argument("--timeout", type=float, default=900, help="after this, unfinished jobs count as stuck")
    ap.add_argument("--replicas", default="", help="as `simswarm up --replicas`, e.g. orchestrator=2")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    os.environ["SIMSWARM_MAX_LIVE_JOBS"] = str(max(args.jobs, 20))
    os.environ["SIMSWARM_RATE_LIMITS"] = "jobs_user=off"
    home = Path(tempfile.mkdtemp(prefix="simswarm-chaos-"))
    sup = Supervisor(home=home, port=free_port(), replicas=parse_replicas(args.replicas))
    print(f"starting the platform in {home} ...", flush=True)
    sup.start()
    chaos: Chaos | None = None
    try:
        key = (home / "api-key").read_text().strip()

        def submit(i: int) -> str:
            for _ in range(120):  # the gateway may be the one just killed: try again
                try:
                    with Client(sup.api_url, key) as c:
                        return create_bench_job(c, i, args, "chaos")
                except Exception:
                    time.sleep(1)
            raise RuntimeError(f"job {i} could not be submitted")

        t0 = time.monotonic()
        chaos = Chaos(sup, args.kill_every, args.seed).start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            job_ids = list(pool.map(submit, range(args.jobs)))
        print(
            f"submitted {len(job_ids)} jobs in {time.monotonic() - t0:.1f}s; killing every {args.kill_every}s ...",
            flush=True,
        )
        ended: dict[str, list[Any]] = {}
        while time.monotonic() - t0 < args.timeout:
            with contextlib.suppress(Exception):
                lines = asyncio.run(collect(home, [j for j in job_ids if j not in ended]))
                ended.update({j: tl for j, tl in lines.items() if any(e.type in TERMINAL for e in tl)})
            if len(ended) == len(job_ids):
                break
            time.sleep(2)
        chaos.stop()
        chaos_kills = list(chaos.kills)
        chaos = None
        with contextlib.suppress(Exception):  # make sure everything killed last is back
            for _ in range(60):
                sup.check()
                time.sleep(0.5)
        time.sleep(5)  # late duplicates and the reaper's sweep
        timelines = asyncio.run(collect(home, job_ids))
        pod_pids = []
        for entry in (home / "pods").glob("*.json"):
            with contextlib.suppress(Exception):
                pod_pids.append(int(json.loads(entry.read_text())["pid"]))
        leaked = [p for p in pod_pids if alive(p)]
        equal, rebuilt = asyncio.run(rebuild_equals_live(home))
    finally:
        if chaos is not None:
            chaos.stop()
        sup.stop()
        shutil.rmtree(home, ignore_errors=True)

    status = Counter()
    slowest = 0.0
    dups: dict[str, list[str]] = {}
    for jid, tl in timelines.items():
        terminal = next((e for e in tl if e.type in TERMINAL), None)
        status[terminal.type if terminal else "stuck"] += 1
        created = next((e for e in tl if e.type == "JobCreated"), None)
        if terminal and created:
            slowest = max(slowest, (terminal.occurred_at - created.occurred_at).total_seconds())
        if d := duplicates(tl):
            dups[jid] = d
    kinds = Counter(k for _, k in chaos_kills)
    print(
        f"\n{args.jobs} jobs ({args.agents} agents x {args.rounds} rounds, heuristic, local pods); "
        f"{len(chaos_kills)} SIGKILLs: {dict(kinds)}"
    )
    print(
        f"completed {status['JobCompleted']}, failed {status['JobFailed']}, cancelled {status['JobCancelled']}, "
        f"stuck {status['stuck']}"
    )
    print(f"leaked pods: {len(leaked)}")
    print(f"duplicated effects: {sum(len(d) for d in dups.values())}" + (f" {dups}" if dups else ""))
    print(f"slowest job, JobCreated -> its end: {slowest:.1f} s")
    print_where_time_went(timelines, chaos_kills, args.show_slowest)
    print(f"projections rebuild ({rebuilt} jobs) equals the live table: {'yes' if equal else 'NO'}")
    return 0 if status["stuck"] == 0 and not leaked and not dups and equal else 1


if __name__ == "__main__":
    sys.exit(main())
