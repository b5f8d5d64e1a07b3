"""`simswarm run`, `simswarm demo`, `simswarm jobs`, `simswarm cancel`: submit and follow through the REST API."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from simswarm.client import ApiError, Client, Job, NotConfigured
from simswarm.commands.table import JOB_ID, Commands, arg

DEMO_SEED = "laguardia-crash.txt"
DEMO_QUESTION = "Will the FAA order new runway-incursion rules for LaGuardia within 60 days?"


# What a job is made of: the options of `simswarm run` that become the job's spec.
JOB_OPTIONS = (
    arg("--question", "-q", required=True, help="the prediction question (<= 1,000 chars)"),
    arg(
        "--tier",
        default="small",
        choices=["small", "medium", "large"],
        help="size and model tier (default small)",
    ),
    arg("--policy", default=None, choices=["heuristic", "llm"], help="agent policy (default: the tier's)"),
    arg("--agents", type=int, default=None, help="number of agents (default: the tier's)"),
    arg("--rounds", type=int, default=None, help="number of rounds (default: the tier's)"),
    arg("--forecast-days", type=int, default=None, help="forecast horizon in days (1-365, default 30)"),
    arg("--seed", type=int, default=None, dest="random_seed", help="random seed for a reproducible run"),
)
# The options above that are fields of the job's spec, by their names in the API.
SPEC_FIELDS = ("tier", "policy", "agents", "rounds", "forecast_days", "random_seed")
COMMANDS = Commands()  # this module's sub-commands, filled by the decorators below


def _read_seed(path: Path, console: Console) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        console.print(f"[red]error:[/] seed file {path} not found")
    except UnicodeDecodeError:
        console.print(f"[red]error:[/] seed file {path} is not UTF-8 text")
    except OSError as exc:
        console.print(f"[red]error:[/] cannot read {path}: {exc.strerror}")
    return None


@COMMANDS.command(
    "run",
    help="submit a simulation to a running platform and follow it live",
    description="Submit SEED_FILE and a prediction question through the REST API, show live "
    "progress, print the outcome. Finds the API via $SIMSWARM_HOME (simswarm up) or "
    "SIMSWARM_API_URL + SIMSWARM_API_KEY. Exit 0 when the job completes.",
    args=(
        arg("seed_file", type=Path, metavar="SEED_FILE", help="the seed document (text, <= 50,000 chars)"),
        *JOB_OPTIONS,
        arg("--detach", action="store_true", help="submit and print the job id without following"),
    ),
)
def cmd_run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    seed = _read_seed(args.seed_file, console)
    if seed is None:
        return 2
    try:
        client = Client.from_env()
    except NotConfigured as exc:
        console.print(f"[red]error:[/] {exc}")
        return 3
    with client:
        spec = {name: getattr(args, name) for name in SPEC_FIELDS}
        return submit_and_follow(client, console, seed, args.question, detach=args.detach, **spec)


@COMMANDS.command(
    "demo",
    help="start the whole platform in a temporary home, run a bundled seed, stop",
    description="Brings the embedded stack up in a temporary directory, runs the bundled "
    f"seed {DEMO_SEED!r} with the heuristic policy, prints the outcome and shuts down.",
    args=(
        arg("--agents", type=int, default=60, help="agents (default 60)"),
        arg("--rounds", type=int, default=24, help="rounds (default 24)"),
        arg("--keep", action="store_true", help="keep the temporary home (data, logs, artifacts)"),
        arg(
            "--open",
            action="store_true",
            help="open the finished job in the web app (browser) and keep the platform up until Ctrl-C",
        ),
    ),
)
def cmd_demo(args: argparse.Namespace) -> int:
    from simswarm.stack import StackError, free_port
    from simswarm.supervisor import Supervisor

    console = Console(stderr=True)
    seed = resources.files("simswarm.seeds").joinpath(DEMO_SEED).read_text(encoding="utf-8")
    home = Path(tempfile.mkdtemp(prefix="simswarm-demo-"))
    sup = Supervisor(home=home, port=free_port())
    try:
        with console.status("starting NATS, PostgreSQL, SeaweedFS and the services ..."):
            sup.start()
        console.print(f"[green]platform up[/] at {sup.api_url} (home {home})")
        console.print(f"seed: {DEMO_SEED}\nquestion: {DEMO_QUESTION}")
        key = (home / "api-key").read_text().strip()
        with Client(sup.api_url, key) as client:
            rc = submit_and_follow(
                client,
                console,
                seed,
                DEMO_QUESTION,
                tier="small",
                policy="heuristic",
                agents=args.agents,
                rounds=args.rounds,
                forecast_days=60,
                random_seed=42,
            )
            if rc == 0 and args.open:
                job = next(iter(client.list(limit=1)))
                open_in_browser(console, f"{sup.api_url}/jobs/{job.job_id}", key)
            return rc
    except StackError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    finally:
        with console.status("shutting down ..."):
            sup.stop()
        if args.keep:
            console.print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def open_in_browser(console: Console, url: str, key: str) -> None:
    """Open the web app at `url`, logged in as the local user, and wait for Ctrl-C.

    The key travels in the URL's fragment, which the browser never sends to a server; the app keeps
    it like a session and removes it from the address bar (web/src/main.ts)."""
    import time
    import webbrowser

    opened = webbrowser.open(f"{url}#key={key}")
    console.print(
        f"{'opened' if opened else 'open'} [bold]{url}[/] in a browser"
        + ("" if opened else " (log in with the API key in the demo's home)")
        + "; Ctrl-C stops the platform"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def submit_and_follow(
    client: Client, console: Console, seed: str, question: str, *, detach: bool = False, **spec: Any
) -> int:
    try:
        job = client.create(seed, question, **spec)
    except ApiError as exc:
        console.print(f"[red]error:[/] {exc.detail}" + (f" ({exc.code})" if exc.code else ""))
        return 2 if 400 <= exc.status < 500 else 3
    console.print(f"job [bold]{job.job_id}[/] created")
    if detach:
        print(job.job_id)
        return 0
    try:
        final = client.wait(job.job_id, progress=True)
    except KeyboardInterrupt:
        console.print(f"\nstopped following; the job goes on. Cancel it with: simswarm cancel {job.job_id}")
        return 130
    except ApiError as exc:
        console.print(f"[red]error:[/] lost the job's event stream: {exc.detail}")
        return 3
    return _print_outcome(client, console, final)


def _print_outcome(client: Client, console: Console, job: Job) -> int:
    job_id = job.job_id
    if job.status != "completed":
        colour = "yellow" if job.status == "cancelled" else "red"
        console.print(f"[{colour}]job {job.status}[/]: {job.error or 'no reason recorded'}")
        console.print(f"timeline: simswarm events {job_id}")
        return 1
    console.print("[green]job completed[/]")
    table = Table("market", "P(yes) start", "P(yes) final", title="Markets")
    prices: dict[str, float] = job.final_prices or {}
    for m in job.markets or []:
        key = str(m.get("market_id") or m.get("question"))
        final_price = prices.get(key, prices.get(str(m.get("question", ""))))
        table.add_row(
            m.get("question", key),
            f"{m.get('initial_price_yes', 0.5):.2f}",
            "-" if final_price is None else f"{final_price:.2f}",
        )
    if not job.markets:
        for key, value in prices.items():
            table.add_row(key, "-", f"{value:.2f}")
    console.print(table)
    if job.verdict:
        console.print(f"[bold]verdict:[/] {job.verdict}")
    try:
        report = client.report(job_id)
        console.print("[bold]report[/] (first lines):")
        for line in [ln for ln in report.splitlines() if ln.strip()][:10]:
            console.print("  " + (line if len(line) <= 116 else line[:113] + "..."), highlight=False)
    except ApiError as exc:
        console.print(f"report not available: {exc.detail}")
    try:
        files = client.sim_data(job_id).files
        if files:
            console.print(
                f"[bold]artifacts[/] ({len(files)} files): simswarm download {job_id} ./{job_id[:8]}"
            )
            console.print("  " + ", ".join(f.name for f in files))
    except ApiError:
        pass
    console.print(f"timeline: simswarm events {job_id}")
    return 0


@COMMANDS.command(
    "jobs",
    help="list your jobs (newest first, every page)",
    args=(
        arg("--status", default=None, help="only jobs in this status"),
        arg("--limit", type=int, default=50, help="at most this many jobs (default 50)"),
    ),
)
def cmd_jobs(args: argparse.Namespace) -> int:
    console = Console()
    table = Table("job", "status", "stage", "round", "created", "goal")
    try:
        with Client.from_env() as client:
            for j in client.list(status=args.status, limit=args.limit):
                table.add_row(
                    j.job_id,
                    j.status,
                    j.stage or "",
                    f"{j.progress.round}/{j.progress.rounds or 0}",
                    str(j.created_at or "")[:19],
                    str(j.goal or "")[:60],
                )
    except (NotConfigured, ApiError) as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        return 3
    console.print(table)
    return 0


@COMMANDS.command("cancel", help="cancel a job (its pod is torn down)", args=(JOB_ID,))
def cmd_cancel(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        with Client.from_env() as client:
            client.cancel(args.job_id)
    except (NotConfigured, ApiError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 3 if isinstance(exc, NotConfigured) else 1
    console.print(f"cancellation of {args.job_id} requested; its pod is being torn down")
    return 0


@COMMANDS.command(
    "retry", help="run a failed or cancelled job again (prints the new job's id)", args=(JOB_ID,)
)
def cmd_retry(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        with Client.from_env() as client:
            job = client.retry(args.job_id)
    except (NotConfigured, ApiError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 3 if isinstance(exc, NotConfigured) else 1
    console.print(f"job [bold]{job.job_id}[/] created (a retry of {args.job_id})")
    print(job.job_id)
    return 0


@COMMANDS.command(
    "wait",
    help="follow a job until it ends (exit 0 when it completed)",
    args=(
        JOB_ID,
        arg("--timeout", type=float, default=None, help="give up after this many seconds"),
        arg("--quiet", action="store_true", help="no progress bar"),
    ),
)
def cmd_wait(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        with Client.from_env() as client:
            job = client.wait(args.job_id, timeout=args.timeout, progress=not args.quiet)
    except (NotConfigured, ApiError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 3 if isinstance(exc, NotConfigured) else 1
    print(job.status)
    return 0 if job.status == "completed" else 1


@COMMANDS.command(
    "download",
    help="download a job's files into DEST, each verified by SHA-256",
    description="Downloads the job's simulation data into DEST. Each file is checked "
    "against the SHA-256 and size the server lists and renamed into place only then; "
    "files already in DEST and intact are not downloaded again.",
    args=(
        JOB_ID,
        arg("dest", type=Path),
        arg("--file", action="append", help="only this file (repeatable)"),
    ),
)
def cmd_download(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        with Client.from_env() as client:
            files = client.download(args.job_id, args.dest, names=args.file or None)
    except (NotConfigured, ApiError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 3 if isinstance(exc, NotConfigured) else 1
    for f in files:
        state = "already there, intact" if f.skipped else "downloaded, SHA-256 verified"
        console.print(f"{f.path}  {f.size:>12,} bytes  {state}", highlight=False, soft_wrap=True)
    return 0
