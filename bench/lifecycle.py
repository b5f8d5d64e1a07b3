"""N small jobs at once through the embedded platform: jobs per minute and the cost of every hop.

    python bench/lifecycle.py [--jobs 50] [--agents 10] [--rounds 5] [--orchestrators 1,2] [--isolated]

For each orchestrator replica count, starts `simswarm up --replicas orchestrator=<n>` in a temporary
home (real NATS, Postgres, SeaweedFS, one process per service, local pods), submits the jobs through
the REST API, waits for them all, then reads each job's events from JetStream and prints p50/p99 of
every hop from the events' `occurred_at`, the orchestrator's own hops together (an inbound event to
the decision it caused), and the end-to-end time minus the engine's own run time. Prints figures;
asserts nothing about time.

`--isolated` measures the orchestrator alone: only the orchestrator and the gateway run, and this
script answers for the pod manager and the reporter over the bus (`FakeWorkers`: each answer a short
pause after the request, a run's rounds 50 ms apart), so no engine, pod or report competes for the
CPU. Its hops are the orchestrator's own latency; the full run's are that plus the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts import events as ev  # noqa: E402
from services.kit.bus import Bus  # noqa: E402
from services.kit.settings import load_settings  # noqa: E402
from simswarm.client import Client  # noqa: E402
from simswarm.stack import free_port  # noqa: E402
from simswarm.supervisor import SERVICES, Supervisor  # noqa: E402

HOPS = [
    ("JobCreated", "PodRequested"),
    ("PodRequested", "PodProvisioned"),
    ("PodProvisioned", "PodReady"),
    ("PodReady", "RunRequested"),
    ("RunRequested", "RunStarted"),
    ("RunStarted", "RunCompleted"),
    ("RunCompleted", "ReportRequested"),
    ("RunCompleted", "PodTeardownRequested"),
    ("PodTeardownRequested", "PodTerminated"),
    ("ReportRequested", "ReportWritten"),
    ("RunCompleted", "GraphBuilt"),
    ("ReportWritten", "JobCompleted"),
    ("PodTerminated", "JobCompleted"),
]
# The orchestrator's own hops: an inbound event -> the decision it caused (relay publish included).
# JobCompleted follows whichever of ReportWritten / PodTerminated came last ("settled").
ORCHESTRATOR_HOPS = [
    ("PodReady", "RunRequested"),
    ("RunCompleted", "ReportRequested"),
    ("RunCompleted", "PodTeardownRequested"),
    ("settled", "JobCompleted"),
]
SEED = (Path(__file__).resolve().parents[1] / "simswarm" / "seeds" / "laguardia-crash.txt").read_text()


def create_bench_job(client: Client, i: int, args: argparse.Namespace, label: str) -> str:
    """Job `i` of a benchmark: the LaGuardia brief, the heuristic policy, `args.agents` x `args.rounds`."""
    job = client.create_job(
        SEED,
        f"Will the FAA order new rules within 60 days? ({label} {i})",
        policy="heuristic",
        agents=args.agents,
        rounds=args.rounds,
        random_seed=i,
    )
    return str(job["job_id"])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


class FakeWorkers:
    """The pod manager and the reporter as far as the orchestrator can tell, answered over the bus
    from this process: PodRequested -> PodProvisioned, PodReady; RunRequested -> RunStarted, one
    RunProgressed per round, RunCompleted; PodTeardownRequested -> PodTerminated; ReportRequested ->
    ReportWritten. Runs its own event loop in a thread beside the synchronous benchmark."""

    PAUSE_S = 0.2  # between a request and its answer, and between the answers of one request
    ROUND_S = 0.05

    def __init__(self, home: Path, rounds: int) -> None:
        self.home = home
        self.rounds = rounds
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    def __enter__(self) -> FakeWorkers:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fake workers did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _serve(self) -> None:
        settings = load_settings(home=self.home)
        bus = await Bus.connect(settings.nats_url, "bench-fakes", login=settings.nats_login("admin"))
        answers: set[asyncio.Task[None]] = set()

        async def handle(event: ev.AnyEvent, _delivery: object) -> None:
            task = asyncio.create_task(self._answer(bus, event))  # pauses must not hold the consumer
            answers.add(task)
            task.add_done_callback(answers.discard)

        try:
            await bus.consume(
                "bench-fakes",
                ["PodRequested", "RunRequested", "PodTeardownRequested", "ReportRequested"],
                handle,
                max_ack_pending=1024,
                deliver_new=True,
            )
            self._ready.set()
            await asyncio.to_thread(self._stop.wait)
        finally:
            await bus.close()

    async def _answer(self, bus: Bus, e: ev.AnyEvent) -> None:
        async def say(cls: type[ev.Event], **fields: object) -> None:
            await asyncio.sleep(self.PAUSE_S)
            await bus.publish(ev.new_event(cls, e.job_id, **fields))

        if isinstance(e, ev.PodRequested):
            pod = {"attempt": e.attempt, "pod_name": e.pod_name, "pod_id": f"fake-{e.pod_name}"}
            await say(ev.PodProvisioned, **pod, provider="bench")
            await say(ev.PodReady, **pod)
        elif isinstance(e, ev.RunRequested):
            await say(ev.RunStarted, run_id=e.run_id, attempt=e.attempt, agents=1, rounds=self.rounds)
            for r in range(1, self.rounds + 1):
                await asyncio.sleep(self.ROUND_S)
                await bus.publish(
                    ev.new_event(ev.RunProgressed, e.job_id, run_id=e.run_id, round=r, rounds=self.rounds)
                )
            await say(ev.RunCompleted, run_id=e.run_id, artifact_prefix=e.artifact_prefix, artifacts=[])
        elif isinstance(e, ev.PodTeardownRequested):
            await say(ev.PodTerminated, attempt=e.attempt, pod_name=e.pod_name, pod_id=e.pod_id)
        elif isinstance(e, ev.ReportRequested):
            await say(ev.ReportWritten, report_key=f"jobs/{e.job_id}/report/report.md", artifacts=[])


async def collect(home: Path, job_ids: list[str]) -> dict[str, list]:
    """Each job's events from JetStream, in stream order."""
    settings = load_settings(home=home)
    bus = await Bus.connect(settings.nats_url, "bench", login=settings.nats_login("operator"))
    try:
        return {jid: [ev for _, ev in await bus.job_events(jid)] for jid in job_ids}
    finally:
        await bus.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--orchestrators", default="1,2", help="orchestrator replica counts to measure, e.g. 1,2")
    ap.add_argument(
        "--isolated",
        action="store_true",
        help="only the orchestrator (and the gateway) run; this script answers for pods and reports",
    )
    args = ap.parse_args()

    # One user submits every job at once: lift the per-user quota of live jobs and the per-user
    # job-creation rate limit for the run.
    os.environ["SIMSWARM_MAX_LIVE_JOBS"] = str(max(args.jobs, 20))
    os.environ["SIMSWARM_RATE_LIMITS"] = "jobs_user=off"
    ok = True
    summary = []
    for n in (int(x) for x in args.orchestrators.split(",")):
        print(f"\n=== {n} orchestrator replica(s), {args.jobs} jobs at once ===", flush=True)
        line, good = run_once(args, n)
        summary.append(line)
        ok = ok and good
    print("\n=== summary ===")
    print(f"{'orchestrators':<15}{'own hops p50':>14}{'own hops p99':>14}{'jobs/min':>10}")
    for line in summary:
        print(line)
    return 0 if ok else 1


def run_once(args: argparse.Namespace, orchestrators: int) -> tuple[str, bool]:
    home = Path(tempfile.mkdtemp(prefix="simswarm-bench-"))
    services = ("orchestrator", "gateway") if args.isolated else SERVICES
    sup = Supervisor(home=home, port=free_port(), services=services, replicas={"orchestrator": orchestrators})
    print(f"starting the platform in {home} ...", flush=True)
    sup.start()
    fakes: contextlib.AbstractContextManager[object] = (
        FakeWorkers(home, args.rounds) if args.isolated else contextlib.nullcontext()
    )
    try:
        with fakes:
            key = (home / "api-key").read_text().strip()
            t0 = time.monotonic()

            def submit(i: int) -> str:
                with Client(sup.api_url, key) as c:
                    return create_bench_job(c, i, args, "bench")

            with ThreadPoolExecutor(max_workers=16) as pool:
                job_ids = list(pool.map(submit, range(args.jobs)))
            submitted = time.monotonic() - t0
            print(f"submitted {len(job_ids)} jobs in {submitted:.2f}s; waiting ...", flush=True)
            pending = set(job_ids)
            statuses: dict[str, str] = {}
            with Client(sup.api_url, key) as c:
                while pending and time.monotonic() - t0 < args.timeout:
                    for jid in list(pending):
                        st = c.get_job(jid)["status"]
                        if st in ("completed", "failed", "cancelled"):
                            statuses[jid] = st
                            pending.discard(jid)
                    time.sleep(0.5)
            wall = time.monotonic() - t0
        events = asyncio.run(collect(home, job_ids))
    finally:
        sup.stop()
        shutil.rmtree(home, ignore_errors=True)

    done = [j for j, s in statuses.items() if s == "completed"]
    print(
        f"\n{len(done)}/{args.jobs} completed, {sum(1 for s in statuses.values() if s == 'failed')} failed, "
        f"{len(pending)} unfinished, in {wall:.1f}s wall -> {len(done) / wall * 60:.1f} jobs/min "
        f"({args.agents} agents x {args.rounds} rounds, heuristic policy, "
        f"{'pods and reports answered by the bench' if args.isolated else 'local pods'})"
    )
    hop_values: dict[tuple[str, str], list[float]] = defaultdict(list)
    own_values: dict[tuple[str, str], list[float]] = defaultdict(list)
    own: list[float] = []
    e2e, e2e_minus_engine, engine = [], [], []
    for jid in done:
        first: dict[str, object] = {}
        for e in events[jid]:
            first.setdefault(e.type, e)
        for a, b in HOPS:
            if a in first and b in first:
                hop_values[(a, b)].append((first[b].occurred_at - first[a].occurred_at).total_seconds())
        if "ReportWritten" in first and "PodTerminated" in first:
            first["settled"] = max(
                (first["ReportWritten"], first["PodTerminated"]), key=lambda e: e.occurred_at
            )
        for a, b in ORCHESTRATOR_HOPS:
            if a in first and b in first:
                value = (first[b].occurred_at - first[a].occurred_at).total_seconds()
                own_values[(a, b)].append(value)
                own.append(value)
        total = (first["JobCompleted"].occurred_at - first["JobCreated"].occurred_at).total_seconds()
        eng = float(getattr(first.get("RunCompleted"), "engine_seconds", 0.0))
        e2e.append(total)
        engine.append(eng)
        e2e_minus_engine.append(total - eng)
    print(f"\n{'hop':<46}{'p50':>13}{'p99':>13}{'n':>6}")
    for a, b in HOPS:
        v = hop_values[(a, b)]
        print(f"{a + ' -> ' + b:<46}{fmt_ms(pct(v, 0.5)):>13}{fmt_ms(pct(v, 0.99)):>13}{len(v):>6}")
    print(
        f"\n{'end to end (JobCreated -> JobCompleted)':<46}{fmt_ms(pct(e2e, 0.5)):>13}{fmt_ms(pct(e2e, 0.99)):>13}"
    )
    print(
        f"{'engine run time (RunCompleted.engine_seconds)':<46}{fmt_ms(pct(engine, 0.5)):>13}{fmt_ms(pct(engine, 0.99)):>13}"
    )
    print(
        f"{'end to end minus engine time':<46}{fmt_ms(pct(e2e_minus_engine, 0.5)):>13}"
        f"{fmt_ms(pct(e2e_minus_engine, 0.99)):>13}"
    )
    if e2e_minus_engine:
        print(f"mean platform overhead per job: {statistics.mean(e2e_minus_engine):.2f}s")
    print(f"\n{'orchestrator hops (own)':<46}{'p50':>13}{'p99':>13}{'n':>6}")
    for a, b in ORCHESTRATOR_HOPS:
        v = own_values[(a, b)]
        print(f"{a + ' -> ' + b:<46}{fmt_ms(pct(v, 0.5)):>13}{fmt_ms(pct(v, 0.99)):>13}{len(v):>6}")
    print(f"{'all of them':<46}{fmt_ms(pct(own, 0.5)):>13}{fmt_ms(pct(own, 0.99)):>13}{len(own):>6}")
    line = f"{orchestrators:<15}{fmt_ms(pct(own, 0.5)):>14}{fmt_ms(pct(own, 0.99)):>14}{len(done) / wall * 60:>10.1f}"
    return line, len(done) == args.jobs


if __name__ == "__main__":
    sys.exit(main())
