"""`simswarm events JOB_ID`: a job's timeline straight from JetStream, for post-mortems."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from typing import Any

import msgspec
from rich.console import Console

from contracts.events import TERMINAL_EVENTS, Event
from simswarm.commands.options import given_home, home_option
from simswarm.commands.table import JOB_ID, Commands, arg

ENVELOPE = {
    "event_id",
    "job_id",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "traceparent",
    "version",
    "type",
}
COMMANDS = Commands()  # this module's sub-commands, filled by the decorator below


def key_fields(ev: Event) -> str:
    """The fields that matter to a reader, compactly: no envelope, specs summarised."""
    data: dict[str, Any] = msgspec.to_builtins(ev)
    parts = []
    for k, v in data.items():
        if k in ENVELOPE or v in (None, [], {}, ""):
            continue
        if k == "spec":
            v = {"tier": v.get("tier"), "goal": str(v.get("goal", ""))[:60]}
        elif k == "run":
            v = {x: v.get(x) for x in ("agents", "rounds", "policy", "model")}
        elif k == "artifacts":
            v = f"{len(v)} files"
        elif k in ("counters",):
            continue
        elif isinstance(v, float):
            v = round(v, 4)
        text = str(v)
        parts.append(f"{k}={text if len(text) <= 80 else text[:77] + '...'}")
    return " ".join(parts)


def _delta(prev: datetime | None, now: datetime) -> str:
    if prev is None:
        return ""
    ms = (now - prev).total_seconds() * 1000
    return f"+{ms:.0f}ms" if ms < 10_000 else f"+{ms / 1000:.1f}s"


async def _run(args: argparse.Namespace) -> int:
    from services.kit.bus import Bus, BusUnavailable
    from services.kit.settings import load_settings

    console = Console()
    settings = load_settings(home=given_home(args))
    try:
        bus = await Bus.connect(settings.nats_url, name="cli-events", login=settings.nats_login("operator"))
    except BusUnavailable as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc} (is `simswarm up` running?)")
        return 3
    try:
        prev: datetime | None = None
        count = 0
        source = bus.follow_job(args.job_id) if args.follow else _aiter(await bus.job_events(args.job_id))
        async for seq, ev in source:
            count += 1
            if args.json:
                sys.stdout.write(msgspec.json.encode({"seq": seq, **msgspec.to_builtins(ev)}).decode() + "\n")
                sys.stdout.flush()
            else:
                console.print(
                    f"{ev.occurred_at:%H:%M:%S.%f}"[:-3] + f" {_delta(prev, ev.occurred_at):>9}  "
                    f"[bold]{ev.type:<24}[/] {key_fields(ev)}",
                    highlight=False,
                    soft_wrap=True,
                )
            prev = ev.occurred_at
            if args.follow and ev.type in TERMINAL_EVENTS:
                break
        if count == 0 and not args.follow:
            Console(stderr=True).print(f"no events for job {args.job_id}")
            return 1
    finally:
        await bus.close()
    return 0


async def _aiter(items: list[Any]) -> Any:
    for item in items:
        yield item


@COMMANDS.command(
    "events",
    help="a job's event timeline from JetStream (time, event, key fields, delta)",
    description="Replays the job's events from the SIMSWARM_JOBS stream. Reads NATS from "
    "$SIMSWARM_HOME (simswarm up) or NATS_URL.",
    args=(
        JOB_ID,
        arg("--follow", "-f", action="store_true", help="keep following until a terminal event"),
        arg("--json", action="store_true", help="one JSON event per line (with its stream sequence)"),
        home_option(),
    ),
)
def cmd_events(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
