"""`simswarm up` and `simswarm serve <service>`."""

from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console

from simswarm.commands.options import home_option, resolved_home
from simswarm.commands.table import Commands, arg

SERVICE_MODULES = {
    "orchestrator": "services.orchestrator.main",
    "podmanager": "services.podmanager.main",
    "reporter": "services.reporter.main",
    "graph": "services.graph.main",
    "gateway": "services.gateway.main",
}


COMMANDS = Commands()  # this module's sub-commands, filled by the decorators below


@COMMANDS.command(
    "up",
    help="start the platform on this machine (NATS, Postgres, SeaweedFS and every service)",
    description="Start nats-server (JetStream), PostgreSQL (pgserver; or DATABASE_URL) and SeaweedFS S3 "
    "(or S3_ENDPOINT), then one process per service, restarting any that dies. Ctrl-C stops everything; "
    "data stays in --home, so the next `up` finds the old jobs.",
    args=(
        home_option("data, logs, pid files and the API key (default: $SIMSWARM_HOME or ~/.simswarm)"),
        arg("--port", type=int, default=8080, help="gateway port (default 8080)"),
        arg("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)"),
        arg(
            "--replicas",
            default="",
            metavar="SERVICE=N[,...]",
            help="run N processes of a service, e.g. orchestrator=2,podmanager=2 (default 1 each; "
            "they share work through their consumers; the gateway runs once: it owns the port)",
        ),
    ),
)
def cmd_up(args: argparse.Namespace) -> int:
    from services.gateway.webapp import bundle_present
    from simswarm.stack import StackError
    from simswarm.supervisor import Supervisor, parse_replicas

    console = Console(stderr=True)
    home = resolved_home(args)
    try:
        replicas = parse_replicas(args.replicas)
    except ValueError as exc:
        console.print(f"[red]error:[/] --replicas: {exc}")
        return 2
    sup = Supervisor(home=home, port=args.port, host=args.host, replicas=replicas)
    with console.status(f"starting SimSwarm in {home} ..."):
        try:
            sup.start()
        except StackError as exc:
            console.print(f"[red]error:[/] {exc}")
            return 1
    console.print(
        f"[green]SimSwarm is up[/] at {sup.api_url}  (the web app, and the API under /api; home {home})"
    )
    if not bundle_present():
        console.print(
            "  [yellow]the web app is not built[/] (the API works): install Node.js 18+ and npm, then "
            "cd web && npm ci && npm run build"
        )
    console.print(f"  API key: {home / 'api-key'}   logs: {sup.log_dir}   Ctrl-C stops everything")
    ports = ", ".join(f"{name} {port}" for name, port in sup.metrics_ports.items())
    console.print(f"  metrics on 127.0.0.1 (one port per process): {ports}; the gateway's at /metrics")
    console.print(f"    scrape targets: {home / 'metrics.json'} (docs/operations.md)")
    console.print(f'  try: SIMSWARM_HOME={home} simswarm run seed.txt --question "..." --policy heuristic')
    try:
        sup.watch()
    finally:
        with console.status("stopping ..."):
            sup.stop()
        console.print("stopped; data kept in", str(home))
    return 0


@COMMANDS.command(
    "down",
    help="stop the `simswarm up` running from a home, and anything a killed one left running",
    description="Stop the `simswarm up` of --home as Ctrl-C would (services, local pods, servers), then "
    "anything an `up` that was killed left running there (services, local pods, NATS, SeaweedFS, "
    "PostgreSQL). The data stays.",
    args=(home_option("default: $SIMSWARM_HOME or ~/.simswarm"),),
)
def cmd_down(args: argparse.Namespace) -> int:
    from simswarm.guard import down

    console = Console(stderr=True)
    home = resolved_home(args)
    with console.status(f"stopping SimSwarm in {home} ..."):
        stopped = down(home)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else f"nothing was running from {home}")
    return 0


@COMMANDS.command(
    "serve",
    help="run one service in the foreground (what `up` runs per process)",
    args=(arg("service", choices=sorted(SERVICE_MODULES)),),
)
def cmd_serve(args: argparse.Namespace) -> int:
    from services.kit.service import run_service

    module = importlib.import_module(SERVICE_MODULES[args.service])
    return run_service(args.service, module.serve)


if __name__ == "__main__":
    sys.exit(1)
