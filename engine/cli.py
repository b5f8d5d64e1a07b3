"""`simswarm simulate`: run the engine locally on a seed file, with no services.

simswarm simulate seed.txt --question "Will X happen by June?" --agents 1000 --rounds 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from contracts.spec import SpecError
from contracts.worker import RunSpec

# the options that are RunSpec fields of the same name
SPEC_OPTIONS = ("agents", "rounds", "policy", "llm_url", "model", "forecast_days")


def add_simulate_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `simulate` on the top-level CLI's subparsers."""
    p = subparsers.add_parser(
        "simulate",
        help="run the simulation engine locally (no services)",
        description="Run one simulation of SEED_FILE and a prediction question; "
        "write the artifacts to --out.",
    )
    p.add_argument(
        "seed_file", metavar="SEED_FILE", help="text file the simulation starts from ('-' for stdin)"
    )
    p.add_argument(
        "--question", "-q", required=True, help="the prediction question, e.g. 'Will X happen by June?'"
    )
    p.add_argument("--agents", type=int, default=50, help="population size (default 50)")
    p.add_argument("--rounds", type=int, default=20, help="rounds to simulate (default 20)")
    p.add_argument("--policy", choices=["heuristic", "llm"], default="heuristic")
    p.add_argument(
        "--llm-url", help="OpenAI-compatible base URL for --policy llm, e.g. http://127.0.0.1:8000/v1"
    )
    p.add_argument("--model", help="model name for --policy llm (default: what the server lists)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same run)")
    p.add_argument("--forecast-days", type=int, default=30)
    p.add_argument(
        "--market", action="append", default=[], help="a market question (repeatable; default: derived)"
    )
    p.add_argument("--out", default="simswarm-out", help="folder for the artifacts (default ./simswarm-out)")
    p.add_argument(
        "--explain",
        action="store_true",
        help="also print what the swarm read: the question as a proposition, the stakeholders and the "
        "claims (from claims.json and stakeholders.json)",
    )
    p.set_defaults(func=run_simulate)


def _read_seed(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8", errors="replace")


def run_simulate(args: argparse.Namespace) -> int:
    """Run the engine with a progress bar and print a summary; returns the exit code."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from contracts.spec import MarketSpec
    from engine import RoundReport, simulate
    from engine.checkpoint import CheckpointError

    console = Console(stderr=True)
    try:
        seed_text = _read_seed(args.seed_file)
    except OSError as exc:
        console.print(f"[red]error:[/] cannot read the seed file {args.seed_file!r}: {exc.strerror or exc}")
        return 2
    spec = RunSpec(
        seed_text=seed_text,
        goal=args.question,
        random_seed=args.seed,
        markets=[MarketSpec(question=q) for q in args.market],
        checkpoint_every=0,
        **{name: getattr(args, name) for name in SPEC_OPTIONS},
    )
    out = Path(args.out)
    try:
        with Progress(
            TextColumn("[bold]round[/]"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task("rounds", total=args.rounds, info="")

            def progress(rep: RoundReport) -> None:
                first = next(iter(rep.prices.values()), 0.5)
                bar.update(
                    task,
                    completed=rep.round,
                    info=f"{rep.active_agents} active · P(yes) {first:.2f} · {int(rep.counters.get('actions', 0))} actions",
                )

            result = simulate(spec, out, progress=progress)
    except (SpecError, CheckpointError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except ValueError as exc:  # e.g. --policy llm without an endpoint
        console.print(f"[red]error:[/] {exc}")
        return 2
    if args.explain:
        explain(Console(), result.out_dir, Table)
    _summary(Console(), result.out_dir, result, Table)
    return 0


def explain(console: object, out: Path, table_cls: type) -> None:
    """Print the parsed proposition, the stakeholders and the claims of a finished run."""
    from contracts.artifacts import ClaimsFile, StakeholdersFile

    claims = msgspec.json.decode((out / "claims.json").read_bytes(), type=ClaimsFile)
    people = msgspec.json.decode((out / "stakeholders.json").read_bytes(), type=StakeholdersFile)
    p = claims.proposition
    window = f", within {p.window_days} days" if p.window_days else ""
    thresholds = "; ".join(f"{t.op} {t.value:g}{t.unit}" for t in p.thresholds) or "none"
    console.print(  # type: ignore[attr-defined]
        f"[bold]Proposition[/] (read by {claims.source}): {p.statement}\n"
        f"  subject: {p.subject} · event: {p.event}{window} · thresholds: {thresholds} · "
        f"polarity: {'NEGATED (' + p.negation + ')' if p.polarity < 0 else 'as asked'}"
    )
    st = table_cls(title="Stakeholders")
    for col in ("id", "type", "aliases", "salience", "stance"):
        st.add_column(col)
    for e in people.stakeholders:
        st.add_row(e.entity_id, e.type, ", ".join(e.aliases), f"{e.salience:.2f}", f"{e.stance:+.2f}")
    ct = table_cls(title="Claims (stance toward YES on the question as asked)")
    for col in ("id", "source", "label", "strength", "round", "text", "why"):
        ct.add_column(col)
    for c in claims.claims:
        ct.add_row(
            c.claim_id,
            c.source,
            c.label,
            f"{c.strength:.2f}",
            str(c.arrival_round),
            c.text[:110],
            "; ".join(c.reasons)[:80],
        )
    console.print(st)  # type: ignore[attr-defined]
    console.print(ct)  # type: ignore[attr-defined]


def _summary(console: object, out: Path, result: object, table_cls: type) -> None:
    from contracts.artifacts import AgentTrajectory, MarketCurve, TopPost

    curves = msgspec.json.decode((out / "market_curves.json").read_bytes(), type=list[MarketCurve])
    top = msgspec.json.decode((out / "top_posts.json").read_bytes(), type=list[TopPost])[:5]
    trajectories = msgspec.json.decode(
        (out / "agent_trajectories.json").read_bytes(), type=list[AgentTrajectory]
    )
    markets = table_cls(title="Markets")
    markets.add_column("market")
    markets.add_column("start", justify="right")
    markets.add_column("final P(yes)", justify="right")
    markets.add_column("volume", justify="right")
    for c in curves:
        markets.add_row(
            c.question,
            f"{c.points[0].price_yes:.2f}",
            f"{c.points[-1].price_yes:.2f}",
            f"{sum(p.volume for p in c.points):.0f}",
        )
    posts = table_cls(title="Most engaged posts")
    posts.add_column("post")
    posts.add_column("author")
    posts.add_column("engagement", justify="right")
    posts.add_column("text")
    for p in top:
        posts.add_row(p.post_id, p.author, str(p.engagement), p.text[:90])
    finals = sorted(t.points[-1].position for t in trajectories if t.points)
    firsts = sorted(t.points[0].position for t in trajectories if t.points)
    console.print(markets)  # type: ignore[attr-defined]
    console.print(posts)  # type: ignore[attr-defined]
    if finals:
        n = len(finals)
        yes = sum(1 for x in finals if x > 0.15)
        no = sum(1 for x in finals if x < -0.15)
        spread = (sum((x - sum(finals) / n) ** 2 for x in finals) / n) ** 0.5
        spread0 = (sum((x - sum(firsts) / n) ** 2 for x in firsts) / n) ** 0.5
        console.print(  # type: ignore[attr-defined]
            f"Beliefs: mean {sum(finals) / n:+.2f}, median {finals[n // 2]:+.2f}, spread (sd) {spread0:.2f} → {spread:.2f}; "
            f"{yes} lean YES, {no} lean NO, {n - yes - no} undecided"
        )
    console.print(f"{len(result.files)} files in {out} · engine {result.engine_seconds:.1f} s")  # type: ignore[attr-defined]
