"""Operator commands: `simswarm contracts schema`, `simswarm projections rebuild`, `simswarm nats-config`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from simswarm.commands.options import given_home, home_option
from simswarm.commands.table import Commands, arg

COMMANDS = Commands()  # this module's sub-commands, filled by the decorators below
CONTRACTS = COMMANDS.group("contracts", help="the event contract")
PROJECTIONS = COMMANDS.group("projections", help="read models derived from the event log")


@CONTRACTS.command(
    "schema",
    help="write the JSON Schema files of the contract",
    args=(arg("--out", type=Path, default=None, help="directory (default: contracts/schema)"),),
)
def cmd_schema(args: argparse.Namespace) -> int:
    from contracts import schema

    paths = schema.write(args.out) if args.out else schema.write()
    for p in paths:
        print(p)
    return 0


@PROJECTIONS.command(
    "rebuild",
    help="rebuild the jobs projection from the event store",
    description="Replace the orchestrator's read model (projections.jobs, its timers and quarantine) by "
    "replaying every job's events, in one transaction: readers see the old rows until it commits. A "
    "table of an older version's shape is dropped and made again in this version's (the orchestrator "
    "does that itself when it starts on one). Deleted jobs and the progress shown of running jobs are "
    "carried over (docs/operations.md#upgrades-and-schema-changes).",
    args=(home_option(),),
)
def cmd_rebuild(args: argparse.Namespace) -> int:
    from services.kit.settings import load_settings
    from services.orchestrator.main import rebuild_projections

    console = Console(stderr=True)
    settings = load_settings(home=given_home(args))
    try:
        count = asyncio.run(rebuild_projections(settings))
    except Exception as exc:
        console.print(f"[red]error:[/] rebuilding failed: {exc}")
        return 1
    console.print(f"rebuilt the jobs projection from the event store: {count} jobs")
    return 0


@COMMANDS.command(
    "nats-config",
    help="print nats-server's users and permissions for a production NATS (docs/security.md)",
    description="Print the `authorization` block that gives every SimSwarm service its own NATS user, "
    "allowed only its own subjects. Each password is read by nats-server from the environment "
    "variable SIMSWARM_NATS_PASSWORD_<USER> (e.g. SIMSWARM_NATS_PASSWORD_GATEWAY); give each "
    "service the same password as NATS_USER/NATS_PASSWORD.",
)
def cmd_nats_config(args: argparse.Namespace) -> int:
    from simswarm.nats_auth import render_config

    print(render_config(), end="")
    return 0
