"""`simswarm run`, `simswarm demo`, `simswarm jobs`, `simswarm cancel`: submit and follow through the REST API."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from simswarm.client import ApiError, Client, NotConfigured

PHASES = {
    "JobCreated": "queued",
    "PodRequested": "provisioning a pod",
    "PodProvisioned": "waiting for the pod's health",
    "PodReady": "pod ready",
    "RunRequested": "submitting the run",
    "RunStarted": "simulating",
    "RunProgressed": "simulating",
    "RunCheckpointed": "simulating",
    "RunCompleted": "writing the report",
    "ReportRequested": "writing the report",
    "GraphBuilt": "writing the report",
    "ReportWritten": "tearing the pod down",
    "PodTeardownRequested": "tearing the pod down",
    "PodTerminated": "finishing",
    "JobCancellationRequested": "cancelling",
    "RunFailed": "run failed; cleaning up",
}
TERMINAL = {"JobCompleted", "JobFailed", "JobCancelled"}
DEMO_SEED = "laguardia-crash.txt"
DEMO_QUESTION = "Will the FAA order new runway-incursion rules for LaGuardia within 60 days?"


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser("run", help="submit a simulation to a running platform and follow it live",
                         description="Submit SEED_FILE and a prediction question through the REST API, show live "
                         "progress, print the outcome. Finds the API via $SIMSWARM_HOME (simswarm up) or "
                         "SIMSWARM_API_URL + SIMSWARM_API_KEY. Exit 0 when the job completes.")
    run.add_argument("seed_file", type=Path, metavar="SEED_FILE", help="the seed document (text, <= 50,000 chars)")
    _job_options(run)
    run.add_argument("--detach", action="store_true", help="submit and print the job id without following")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="start the whole platform in a temporary home, run a bundled seed, stop",
                          description="Brings the embedded stack up in a temporary directory, runs the bundled "
                          f"seed {DEMO_SEED!r} with the heuristic policy, prints the outcome and shuts down.")
    demo.add_argument("--agents", type=int, default=60, help="agents (default 60)")
    demo.add_argument("--rounds", type=int, default=24, help="rounds (default 24)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary home (data, logs, artifacts)")
    demo.set_defaults(func=cmd_demo)

    jobs = sub.add_parser("jobs", help="list your jobs")
    jobs.add_argument("--status", default=None, help="only jobs in this status")
    jobs.set_defaults(func=cmd_jobs)

    cancel = sub.add_parser("cancel", help="cancel a job (its pod is torn down)")
    cancel.add_argument("job_id")
    cancel.set_defaults(func=cmd_cancel)


def _job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--question", "-q", required=True, help="the prediction question (<= 1,000 chars)")
    p.add_argument("--tier", default="small", choices=["small", "medium", "large"], help="size and model tier (default small)")
    p.add_argument("--policy", default=None, choices=["heuristic", "llm"], help="agent policy (default: the tier's)")
    p.add_argument("--agents", type=int, default=None, help="number of agents (default: the tier's)")
    p.add_argument("--rounds", type=int, default=None, help="number of rounds (default: the tier's)")
    p.add_argument("--forecast-days", type=int, default=None, help="forecast horizon in days (1-365, default 30)")
    p.add_argument("--seed", type=int, default=None, dest="random_seed", help="random seed for a reproducible run")


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
        return submit_and_follow(
            client, console, seed, args.question, tier=args.tier, policy=args.policy, agents=args.agents,
            rounds=args.rounds, forecast_days=args.forecast_days, random_seed=args.random_seed, detach=args.detach,
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
        with Client(sup.api_url, (home / "api-key").read_text().strip()) as client:
            return submit_and_follow(client, console, seed, DEMO_QUESTION, tier="small", policy="heuristic",
                                     agents=args.agents, rounds=args.rounds, forecast_days=60, random_seed=42)
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


def submit_and_follow(client: Client, console: Console, seed: str, question: str, *, detach: bool = False,
                      **spec: Any) -> int:
    try:
        job = client.create_job(seed, question, **spec)
    except ApiError as exc:
        console.print(f"[red]error:[/] {exc.detail}" + (f" ({exc.code})" if exc.code else ""))
        return 2 if 400 <= exc.status < 500 else 3
    job_id = str(job.get("job_id") or job.get("id"))
    console.print(f"job [bold]{job_id}[/] created")
    if detach:
        print(job_id)
        return 0
    try:
        final = _follow(client, console, job_id)
    except KeyboardInterrupt:
        console.print(f"\nstopped following; the job goes on. Cancel it with: simswarm cancel {job_id}")
        return 130
    except ApiError as exc:
        console.print(f"[red]error:[/] lost the job's event stream: {exc.detail}")
        return 3
    return _print_outcome(client, console, job_id, final)


def _follow(client: Client, console: Console, job_id: str) -> str:
    last_seq: int | None = None
    retries = 0
    columns = (SpinnerColumn(), TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.fields[rounds]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task: TaskID = progress.add_task("queued", total=None, rounds="")
        while True:
            try:
                for ev in client.stream(job_id, last_event_id=last_seq):
                    last_seq = ev.seq or last_seq
                    retries = 0
                    # The stream's data is the timeline entry {seq, type, occurred_at, data: event}.
                    _advance(progress, task, ev.type, ev.data.get("data", ev.data))
                    if ev.type in TERMINAL:
                        return ev.type
            except ApiError as exc:
                if exc.code != "stream_interrupted" or retries >= 5:
                    raise
                retries += 1
            status = client.get_job(job_id).get("status")
            if status in {"completed", "failed", "cancelled"}:
                return {"completed": "JobCompleted", "failed": "JobFailed", "cancelled": "JobCancelled"}[status]


def _advance(progress: Progress, task: TaskID, etype: str, data: dict[str, Any]) -> None:
    if etype in ("RunProgressed", "RunStarted"):
        rounds = int(data.get("rounds") or 0)
        done = int(data.get("round") or 0)
        progress.update(task, description="simulating", total=rounds or None, completed=done,
                        rounds=f"round {done}/{rounds}")
    elif etype in PHASES:
        progress.update(task, description=PHASES[etype])
    elif etype in TERMINAL:
        progress.update(task, description=etype.removeprefix("Job").lower())
        if etype != "JobCompleted":
            progress.stop_task(task)


def _print_outcome(client: Client, console: Console, job_id: str, final: str) -> int:
    job = client.get_job(job_id)
    status = job.get("status")
    if final != "JobCompleted":
        colour = "yellow" if final == "JobCancelled" else "red"
        console.print(f"[{colour}]job {status}[/]: {job.get('error') or 'no reason recorded'}")
        console.print(f"timeline: simswarm events {job_id}")
        return 1
    console.print("[green]job completed[/]")
    table = Table("market", "P(yes) start", "P(yes) final", title="Markets")
    prices = job.get("final_prices") or {}
    for m in job.get("markets") or []:
        key = m.get("market_id") or m.get("question")
        final_price = prices.get(key, prices.get(m.get("question", ""), None))
        table.add_row(m.get("question", key), f"{m.get('initial_price_yes', 0.5):.2f}",
                      "-" if final_price is None else f"{final_price:.2f}")
    if not job.get("markets"):
        for key, value in prices.items():
            table.add_row(key, "-", f"{value:.2f}")
    console.print(table)
    if job.get("verdict"):
        console.print(f"[bold]verdict:[/] {job['verdict']}")
    try:
        report = client.report(job_id)
        console.print("[bold]report[/] (first lines):")
        for line in [ln for ln in report.splitlines() if ln.strip()][:10]:
            console.print("  " + (line if len(line) <= 116 else line[:113] + "..."), highlight=False)
    except ApiError as exc:
        console.print(f"report not available: {exc.detail}")
    try:
        data = client.sim_data(job_id)
        files = data.get("files") or data.get("artifacts") or []
        if files:
            console.print(f"[bold]artifacts[/] ({len(files)} files, presigned links expire in 15 min): "
                          f"{client.base_url}/api/jobs/{job_id}/sim-data")
            console.print("  " + ", ".join(f["name"] for f in files))
    except ApiError:
        pass
    console.print(f"timeline: simswarm events {job_id}")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    console = Console()
    try:
        with Client.from_env() as client:
            body = client.list_jobs(status=args.status, per_page=50)
    except (NotConfigured, ApiError) as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        return 3
    table = Table("job", "status", "stage", "round", "created", "goal")
    for j in body.get("jobs", []):
        prog = j.get("progress") or {}
        table.add_row(str(j.get("job_id")), str(j.get("status")), str(j.get("stage") or ""),
                      f"{prog.get('round', 0)}/{prog.get('rounds', 0)}", str(j.get("created_at", ""))[:19],
                      str(j.get("goal", ""))[:60])
    console.print(table)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        with Client.from_env() as client:
            client.cancel_job(args.job_id)
    except (NotConfigured, ApiError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 3 if isinstance(exc, NotConfigured) else 1
    console.print(f"cancellation of {args.job_id} requested; its pod is being torn down")
    return 0
