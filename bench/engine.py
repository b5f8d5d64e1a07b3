"""Engine benchmark: heuristic policy at 1,000 and 10,000 agents. Prints figures; asserts nothing.

    python -m bench.engine                 # 1,000 and 10,000 agents x 20 rounds
    python -m bench.engine --rounds 100    # the docs/engine.md §9 target: 10,000 x 100
    python -m bench.engine --agents 2000   # one size only
    python -m bench.engine --llm           # also run bench.engine_llm:main() when it exists

After the sizes asked for, it runs the next scale target, 100,000 agents x 20 rounds, in a fresh
process (so its peak RSS is its own); --no-next-scale skips it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.worker import RunSpec  # noqa: E402
from engine import ENGINE_VERSION, RoundReport, simulate  # noqa: E402

SEED = (
    "Acme Corp plans to merge with Globex Corporation in a deal worth $40 billion. CEO Jane Doe said the deal "
    "is likely to close by June and called it great news for customers. Regulators at the Federal Trade "
    "Commission have raised serious doubts about competition. Investors cheered the announcement. Senator "
    "John Smith opposes the merger and warned it will hurt consumers. The European Commission is reviewing "
    "the deal. Analysts at Goldman Sachs think approval is probable but delays are possible. Unions fear job losses."
)


NEXT_SCALE = (100_000, 20)  # agents, rounds: the next scale target (docs/engine.md, "Scale")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(agents: int, rounds: int, seed: int) -> dict[str, float]:
    spec = RunSpec(
        seed_text=SEED,
        goal="Will the Acme-Globex merger close by June 30?",
        agents=agents,
        rounds=rounds,
        random_seed=seed,
        checkpoint_every=0,
    )
    round_times: list[float] = []
    last = [time.perf_counter()]

    def progress(rep: RoundReport) -> None:
        now = time.perf_counter()
        round_times.append(now - last[0])
        last[0] = now

    with tempfile.TemporaryDirectory() as tmp:
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = simulate(spec, tmp, progress=progress)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        size = sum(f.size for f in result.files)
    actions = result.counters.get("actions", 0.0)
    rounds_wall = sum(round_times)
    return {
        "agents": agents,
        "rounds": rounds,
        "wall_s": wall,
        "cpu_s": cpu,
        "rounds_s": rounds_wall,
        "s_per_round": rounds_wall / rounds,
        "actions": actions,
        "actions_per_s": actions / max(rounds_wall, 1e-9),
        "artifacts_s": wall - rounds_wall,
        "artifact_mib": size / 2**20,
        "peak_rss_mib": _peak_rss_mib(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--agents", type=int, action="append", help="population size (repeatable)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--llm", action="store_true", help="also run bench.engine_llm:main() if present")
    parser.add_argument(
        "--no-next-scale",
        action="store_true",
        help=f"skip the {NEXT_SCALE[0]:,} agents x {NEXT_SCALE[1]} rounds run",
    )
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.agents or [1_000, 10_000]
    if not args.no_header:
        print(
            f"engine {ENGINE_VERSION} | python {platform.python_version()} | {platform.machine()} | "
            f"{os.cpu_count()} cpus | one process, one core used"
        )
        print(
            f"{'agents':>8} {'rounds':>6} {'wall s':>8} {'cpu s':>8} {'s/round':>8} {'actions':>9} "
            f"{'actions/s':>10} {'write s':>8} {'files MiB':>9} {'peak RSS MiB':>12}"
        )
    for n in sizes:
        r = run_one(n, args.rounds, args.seed)
        print(
            f"{n:>8} {args.rounds:>6} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['s_per_round']:>8.3f} "
            f"{int(r['actions']):>9} {r['actions_per_s']:>10.0f} {r['artifacts_s']:>8.1f} "
            f"{r['artifact_mib']:>9.1f} {r['peak_rss_mib']:>12.0f}",
            flush=True,
        )
    if not args.no_next_scale and not args.agents:
        n, rounds = NEXT_SCALE
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.engine",
                "--agents",
                str(n),
                "--rounds",
                str(rounds),
                "--seed",
                str(args.seed),
                "--no-next-scale",
                "--no-header",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            check=False,
        )
    if args.llm:
        try:
            module = importlib.import_module("bench.engine_llm")
        except ModuleNotFoundError:
            print("bench.engine_llm is not available; skipping the LLM benchmark")
        else:
            result = module.main()
            return int(result or 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
