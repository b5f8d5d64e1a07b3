"""CPU time of one report: what the reporter (and the graph service) spend per job, stage by stage.

    python bench/report.py [--reports 20] [--agents 6] [--rounds 10] [--in-flight 4]

Runs one small heuristic engine run in-process (what bench/chaos.py submits: the LaGuardia brief,
6 agents × 10 rounds), then produces its report `--reports` times in this one process, as the
reporter's `produce` does (services/reporter/main.py: decode + compose, charts, PDF, result.json), and the
graph service's graph.json. Prints the process's import time and each stage's CPU milliseconds
(process CPU time, p50 and p90 over the reports; the first report is timed apart as "cold").

Then it renders `--in-flight` × `--reports` reports `--in-flight` at a time (the reporter's consumer
has `max_ack_pending=4`) twice: charts and PDF on `asyncio.to_thread` (what the reporter did) and in
the reporter's render pool (services/reporter/pool.py, one process per core), and prints the wall
time per report of each: the throughput the reporter can reach on this machine. Asserts nothing
about time.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()
_C0 = time.process_time()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402

from services.graph.main import build_graph_json  # noqa: E402
from services.reporter.main import decode_and_compose, render_composed  # noqa: E402
from services.reporter.pool import render_in_pool, shutdown, worker_count  # noqa: E402
from services.reporter.result import build_result  # noqa: E402

IMPORT_S, IMPORT_CPU_S = time.perf_counter() - _T0, time.process_time() - _C0
# the brief bench/chaos.py and bench/lifecycle.py submit
SEED = Path(__file__).resolve().parents[1] / "simswarm" / "seeds" / "laguardia-crash.txt"


def run_files(agents: int, rounds: int) -> dict[str, bytes]:
    """The artifact files of one small heuristic engine run of the benches' brief (name -> bytes)."""
    import engine
    from contracts.artifacts import ENGINE_ARTIFACTS
    from contracts.worker import RunSpec

    spec = RunSpec(
        seed_text=SEED.read_text(),
        goal="Will the FAA order new rules within 60 days?",
        agents=agents,
        rounds=rounds,
        policy="heuristic",
    )
    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    engine.simulate(spec, out)
    return {n: (out / n).read_bytes() for n in ENGINE_ARTIFACTS if (out / n).exists()}


def one_report(files: dict[str, bytes]) -> dict[str, float]:
    """Produce one report as the reporter does; CPU seconds per stage."""
    times: dict[str, float] = {}
    c = time.process_time()
    art, report = decode_and_compose(files)
    times["decode+compose"] = time.process_time() - c
    c = time.process_time()
    rendered = render_composed(art, report)
    times["charts+markdown+pdf"] = time.process_time() - c
    c = time.process_time()
    msgspec.json.encode(build_result(art, report))
    times["result.json"] = time.process_time() - c
    times["report total"] = sum(times.values())
    c = time.process_time()
    build_graph_json(files, "bench-job")
    times["graph.json"] = time.process_time() - c
    assert rendered.pdf.startswith(b"%PDF")
    return times


def render_stages(files: dict[str, bytes]) -> dict[str, float]:
    """The inside of render_composed, stage by stage (charts, PDF), in CPU seconds."""
    from services.reporter.charts import belief_chart, market_chart
    from services.reporter.pdf import render_pdf

    art, report = decode_and_compose(files)
    times: dict[str, float] = {}
    c = time.process_time()
    markdown = report.markdown()
    times["  markdown"] = time.process_time() - c
    c = time.process_time()
    charts = {"market_curves.png": market_chart(art)}
    times["  market chart"] = time.process_time() - c
    c = time.process_time()
    charts["belief_distribution.png"] = belief_chart(art)
    times["  belief chart"] = time.process_time() - c
    c = time.process_time()
    render_pdf(markdown, charts)
    times["  pdf"] = time.process_time() - c
    return times


async def reports_in_flight(files: dict[str, bytes], n: int, in_flight: int, pooled: bool) -> float:
    """Wall seconds per report of `n` reports, `in_flight` at a time, rendered as the reporter does:
    decode + compose in a thread, then charts + PDF in a thread (before) or the render pool (now)."""

    async def one(gate: asyncio.Semaphore) -> None:
        async with gate:
            art, report = await asyncio.to_thread(decode_and_compose, files)
            if pooled:
                rendered = await render_in_pool(render_composed, art, report)
            else:
                rendered = await asyncio.to_thread(render_composed, art, report)
            msgspec.json.encode(build_result(art, report))
            assert rendered.pdf.startswith(b"%PDF")

    gate = asyncio.Semaphore(in_flight)
    await asyncio.gather(*(one(gate) for _ in range(in_flight)))  # warm-up (and the pool's start)
    start = time.perf_counter()
    await asyncio.gather(*(one(gate) for _ in range(n)))
    return (time.perf_counter() - start) / n


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=10)[int(q * 10) - 1] if len(values) >= 2 else values[0]


def table(runs: list[dict[str, float]]) -> None:
    for stage in runs[0]:
        vals = [r[stage] * 1000 for r in runs]
        print(f"{stage:<22} {statistics.median(vals):9.1f} {p(vals, 0.9):9.1f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=20)
    ap.add_argument("--agents", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--in-flight", type=int, default=4, help="reports at once (0: skip that comparison)")
    args = ap.parse_args(argv)

    files = run_files(args.agents, args.rounds)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    print(f"import of reporter + graph: {IMPORT_S * 1000:.0f} ms wall, {IMPORT_CPU_S * 1000:.0f} ms CPU")
    cold = one_report(files)
    print(f"first report (cold): {cold['report total'] * 1000:.0f} ms CPU")
    runs = [one_report(files) for _ in range(args.reports)]
    inner = [render_stages(files) for _ in range(args.reports)]
    print(f"\n{args.reports} reports, CPU ms per report  {'p50':>9} {'p90':>9}")
    table(runs)
    table(inner)

    if args.in_flight:
        n = args.in_flight * args.reports
        print(f"\n{n} reports, {args.in_flight} in flight, wall ms per report")
        for name, pooled in (("threads (before)", False), (f"render pool x{worker_count()}", True)):
            per = asyncio.run(reports_in_flight(files, n, args.in_flight, pooled))
            print(f"{name:<22} {per * 1000:9.1f}")
        shutdown()
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
