"""Options that several commands share, declared once: `--home` (which stack's home) and how it is read."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.kit.settings import default_home
from simswarm.commands.table import Arg, arg

HOME_HELP = "the stack's home (default: $SIMSWARM_HOME)"


def home_option(help: str = HOME_HELP) -> Arg:
    """`--home DIR`: the stack's home (data, logs, stack.json, the secrets); unset, the default home."""
    return arg("--home", type=Path, default=None, help=help)


def given_home(args: argparse.Namespace) -> Path | None:
    """--home with `~` expanded, or None: the settings then use $SIMSWARM_HOME, else ~/.simswarm."""
    return args.home.expanduser() if args.home else None


def resolved_home(args: argparse.Namespace) -> Path:
    """--home, else $SIMSWARM_HOME, else ~/.simswarm, as an absolute path."""
    return (given_home(args) or default_home()).resolve()
