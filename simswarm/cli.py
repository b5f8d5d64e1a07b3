"""The `simswarm` command line: run the platform, submit simulations, replay events."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simswarm import __version__

EPILOG = """\
examples:
  simswarm demo                                   whole platform, one bundled simulation, then stop
  simswarm up                                     start the platform here (Ctrl-C stops it)
  simswarm down                                   stop it from another terminal
  simswarm run seed.txt --question "Will X happen within 60 days?" --policy heuristic
  simswarm events JOB_ID --follow                 a job's event timeline, live
  simswarm download JOB_ID ./run                 a job's files, each verified by SHA-256
  simswarm simulate seed.txt --question "..." --agents 1000 --rounds 20   engine only, no services
"""


def build_parser() -> argparse.ArgumentParser:
    from simswarm.commands import admin, events, run, stack

    parser = argparse.ArgumentParser(
        prog="simswarm",
        description="SimSwarm: LLM-agent swarm simulations of a seed document and a prediction question.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"simswarm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for commands in (stack.COMMANDS, run.COMMANDS, events.COMMANDS, admin.COMMANDS):
        commands.add_to(sub)
    try:
        from engine.cli import add_simulate_parser

        add_simulate_parser(sub)
    except ImportError:  # the engine's CLI is optional for the platform commands
        pass
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
