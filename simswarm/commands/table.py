"""The CLI's sub-commands as a table: each `Command` is a name, its help, its description, its
arguments and its handler; `Commands.add_to` registers a whole table on argparse in one loop.

A module of commands fills its table by decorating each handler, so a command's arguments stand
right above the code that reads them:

    COMMANDS = Commands()

    @COMMANDS.command("cancel", help="cancel a job", args=(JOB_ID,))
    def cmd_cancel(args: argparse.Namespace) -> int: ...

`simswarm/cli.py` registers the table of each module, in the order of `simswarm --help`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Arg:
    """One `add_argument` call: a positional name or the option's flags, and its keyword options."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    """An argument declared as argparse's `add_argument(*flags, **options)` would take it."""
    return Arg(flags, options)


JOB_ID = arg("job_id")


@dataclass(frozen=True)
class Command:
    """One sub-command: what `--help` says of it, its arguments, and either the handler that runs
    it or the actions it groups (`simswarm contracts schema`: `contracts` groups `schema`)."""

    name: str
    help: str
    description: str | None = None
    args: tuple[Arg, ...] = ()
    handler: Handler | None = None
    actions: Commands | None = None


class Commands:
    """An ordered table of sub-commands (the order of `simswarm --help`)."""

    def __init__(self) -> None:
        self.table: list[Command] = []

    def command(
        self, name: str, *, help: str, description: str | None = None, args: Sequence[Arg] = ()
    ) -> Callable[[Handler], Handler]:
        """Decorator: the handler runs sub-command `name`, which takes `args`."""

        def register(handler: Handler) -> Handler:
            self.table.append(Command(name, help, description, tuple(args), handler=handler))
            return handler

        return register

    def group(self, name: str, *, help: str) -> Commands:
        """A sub-command whose actions are commands of their own; one of them must be given."""
        actions = Commands()
        self.table.append(Command(name, help, actions=actions))
        return actions

    def add_to(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Register every command of the table (and the actions of a group) on `sub`."""
        for command in self.table:
            parser = sub.add_parser(command.name, help=command.help, description=command.description)
            for a in command.args:
                parser.add_argument(*a.flags, **a.options)
            if command.actions is not None:
                actions = parser.add_subparsers(
                    dest=f"{command.name}_command", metavar="ACTION", required=True
                )
                command.actions.add_to(actions)
            if command.handler is not None:
                parser.set_defaults(func=command.handler)
