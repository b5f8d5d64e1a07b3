"""NATS with one user per service (issue: infrastructure without credentials), on the real server.

The session's nats-server runs with the configuration `simswarm up` generates from
contracts.subjects.nats_permissions. Each test connects as a service's own user and checks what the
server lets it do: no anonymous connection, no wrong password, no publishing another service's
events or commands, and each service's real traffic still flows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest

from contracts.commands import CommandReply, LiveJobsQuery
from contracts.events import EVENT_TYPES, JobCompleted, JobCreated, ReportWritten, new_event
from contracts.subjects import (
    CMD_CREATE_JOB,
    CMD_LIVE_JOBS,
    EVENT_PUBLISHERS,
    JOB_STREAM,
    NATS_USERS,
    SERVICE_USERS,
    inbox_prefix,
    job_subject,
)
from services.kit.bus import Bus, BusUnavailable, PermissionDenied
from services.kit.settings import NatsLogin, SettingsError, load_settings
from simswarm.nats_auth import password_env_var, render_config
from simswarm.stack import _wait_http, find_binary, free_port

pytestmark = pytest.mark.integration


async def _bus(stack: Any, user: str) -> Bus:
    return await Bus.connect(
        stack.nats.url, name=f"t-{user}-{uuid.uuid4().hex[:6]}", login=stack.nats_login(user)
    )


async def test_an_anonymous_connection_is_refused(stack):
    with pytest.raises(BusUnavailable, match="refused an anonymous connection"):
        await Bus.connect(stack.nats.url, name="anonymous")


async def test_a_wrong_password_is_refused(stack):
    with pytest.raises(BusUnavailable, match="refused user 'orchestrator'"):
        await Bus.connect(
            stack.nats.url, name="impostor", login=NatsLogin(user="orchestrator", password="guess")
        )


async def test_reporter_may_not_complete_a_job_but_may_write_its_report(stack, bus):
    job = uuid.uuid4().hex
    reporter = await _bus(stack, "reporter")
    try:
        with pytest.raises(PermissionDenied, match="jobcompleted"):
            await reporter.publish(new_event(JobCompleted, job))
        written = new_event(ReportWritten, job, report_key=f"jobs/{job}/report/report.md", artifacts=[])
        assert not (await reporter.publish(written)).duplicate
    finally:
        await reporter.close()
    assert [type(e).__name__ for _, e in await bus.job_events(job)] == ["ReportWritten"]


async def test_gateway_may_not_publish_an_orchestrator_event(stack, bus):
    job = uuid.uuid4().hex
    gateway = await _bus(stack, "gateway")
    try:
        with pytest.raises(PermissionDenied):
            await gateway.publish(new_event(JobCreated, job, owner_id="mallory", spec=_spec(), run=_run()))
    finally:
        await gateway.close()
    assert await bus.job_events(job) == []


async def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Until `check()` holds (the client's error callbacks run after the flush), or fail naming `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"not within {timeout:.0f} s: {what}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("user", SERVICE_USERS)
async def test_each_service_stores_exactly_its_own_event_types(stack, bus, user):
    """Every event type published by `user`: only those of EVENT_PUBLISHERS[user] reach the stream."""
    job = uuid.uuid4().hex
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    login = stack.nats_login(user)
    nc = await nats.connect(
        stack.nats.url,
        user=login.user,
        password=login.password,
        inbox_prefix=inbox_prefix(user),
        error_cb=on_error,
    )
    try:
        for event_type in EVENT_TYPES:
            await nc.publish(job_subject(job, event_type), b"probe")
        await nc.flush()  # the server has judged every publish before it answers the flush
        # ... and the client runs an error callback for each refused one
        refused = len(EVENT_TYPES) - len(EVENT_PUBLISHERS.get(user, ()))
        await _until(
            lambda: sum("permissions violation" in e.lower() for e in errors) >= refused,
            f"{refused} permission errors for {user}",
        )
    finally:
        await nc.close()
    stored = set()
    for event_type in EVENT_TYPES:
        try:
            await bus.js.get_last_msg(JOB_STREAM, job_subject(job, event_type))
            stored.add(event_type)
        except nats.js.errors.NotFoundError:
            pass
    assert stored == set(EVENT_PUBLISHERS.get(user, ()))
    assert len([e for e in errors if "permissions violation" in e.lower()]) == len(EVENT_TYPES) - len(stored)


async def test_only_the_orchestrator_answers_commands_and_only_senders_send_them(stack):
    orchestrator, gateway, podmanager, reporter = [
        await _bus(stack, u) for u in ("orchestrator", "gateway", "podmanager", "reporter")
    ]
    queue = f"q-{uuid.uuid4().hex[:6]}"

    async def live(_: bytes) -> bytes:
        return msgspec.json.encode(CommandReply(ok=True, live=["j1"]))

    try:
        await orchestrator.serve(CMD_LIVE_JOBS, queue, live)  # allow_responses lets it reply
        await orchestrator.nc.flush()  # the subscription is in place on the server
        reply = await gateway.request(CMD_LIVE_JOBS, LiveJobsQuery(job_ids=["j1"]), CommandReply)
        assert reply.ok and reply.live == ["j1"]
        assert (await podmanager.request(CMD_LIVE_JOBS, LiveJobsQuery(job_ids=["j1"]), CommandReply)).ok
        with pytest.raises(PermissionDenied):  # the reaper may ask what is live, never create a job
            await podmanager.request(CMD_CREATE_JOB, LiveJobsQuery(job_ids=["j1"]), CommandReply, timeout=5)
        denied: list[str] = []

        async def on_error(exc: Exception) -> None:
            denied.append(str(exc))

        sneaky = await nats.connect(
            stack.nats.url,
            user="reporter",
            password=stack.nats_login("reporter").password,
            inbox_prefix=inbox_prefix("reporter"),
            error_cb=on_error,
        )
        try:  # neither listen to the commands nor read another service's replies
            await sneaky.subscribe(CMD_CREATE_JOB)
            await sneaky.subscribe(f"{inbox_prefix('gateway')}.>")
            await sneaky.flush()
            await _until(
                lambda: sum("permissions violation for subscription" in d.lower() for d in denied) >= 2,
                "both subscriptions refused",
            )
        finally:
            await sneaky.close()
        assert sum("permissions violation for subscription" in d.lower() for d in denied) == 2
    finally:
        for b in (orchestrator, gateway, podmanager, reporter):
            await b.close()


async def test_only_the_orchestrator_may_change_a_stream(stack, bus):
    denied: list[str] = []

    async def on_error(exc: Exception) -> None:
        denied.append(str(exc).lower())

    login = stack.nats_login("reporter")
    nc = await nats.connect(
        stack.nats.url,
        user=login.user,
        password=login.password,
        inbox_prefix=inbox_prefix("reporter"),
        error_cb=on_error,
    )
    try:
        js = nc.jetstream(timeout=2.0)
        info = await js.stream_info(JOB_STREAM)  # reading is allowed
        info.config.max_age = 1.0  # what a compromised service would like to do to the log
        with pytest.raises(nats.errors.TimeoutError):  # refused: the request never reaches JetStream
            await js.update_stream(info.config)
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_consumer(JOB_STREAM, "orchestrator")
        with pytest.raises(nats.errors.TimeoutError):
            await js.purge_stream(JOB_STREAM)
    finally:
        await nc.close()
    assert sum("permissions violation for publish" in d for d in denied) == 3
    assert not (await bus.js.stream_info(JOB_STREAM)).config.max_age
    reporter = await _bus(stack, "reporter")
    try:
        await reporter.ensure_streams()  # the contract's streams exist: creating them again is fine
    finally:
        await reporter.close()


async def test_a_service_without_credentials_fails_loudly(tmp_path, stack):
    settings = load_settings({"SIMSWARM_HOME": str(tmp_path), "NATS_URL": stack.nats.url})
    with pytest.raises(SettingsError, match="no NATS credentials for the 'reporter' service"):
        settings.nats_login("reporter")
    from services.reporter.main import serve

    with pytest.raises(SettingsError):
        await serve(settings, asyncio.Event())


def _spec() -> Any:
    from contracts.spec import JobSpec

    return msgspec.convert({"seed_text": "A brief.", "goal": "Will it rain?"}, JobSpec)


def _run() -> Any:
    from contracts.spec import resolve_run

    return resolve_run(_spec(), random_seed=7)


@pytest.fixture
def production_nats(tmp_path: Path) -> Iterator[str]:
    """A nats-server run from `simswarm nats-config` output, each password in its environment."""
    conf = tmp_path / "nats.conf"
    conf.write_text(render_config())
    env = dict(os.environ, **{password_env_var(u): f"pw-{u}" for u in NATS_USERS})
    port, monitor = free_port(), free_port()
    log = tmp_path / "nats.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                find_binary("nats-server"),
                "-c",
                str(conf),
                "-a",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                str(monitor),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_http(f"http://127.0.0.1:{monitor}/healthz", 15, proc, "nats-server", log)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_the_production_config_takes_passwords_from_the_servers_environment(production_nats):
    gateway = await Bus.connect(
        production_nats, name="gateway", login=NatsLogin(user="gateway", password="pw-gateway")
    )
    await gateway.close()
    with pytest.raises(BusUnavailable, match="refused an anonymous connection"):
        await Bus.connect(production_nats, name="anonymous")
    with pytest.raises(BusUnavailable, match="refused user 'gateway'"):
        await Bus.connect(production_nats, name="g", login=NatsLogin(user="gateway", password="pw-reporter"))


def test_simswarm_events_reads_a_timeline_as_the_read_only_operator(stack, tmp_path):
    """The CLI connects as `operator`: it may create, read and delete its replay consumer, nothing more."""
    import sys

    from contracts.events import RunProgressed
    from services.kit.settings import write_stack_file

    home = tmp_path / "home"
    write_stack_file(home, stack.settings_values())
    job = uuid.uuid4().hex

    async def put() -> None:
        admin = await _bus(stack, "admin")
        try:
            await admin.ensure_streams()
            await admin.publish(new_event(RunProgressed, job, run_id="r", round=1, rounds=2))
        finally:
            await admin.close()

    asyncio.run(put())
    out = subprocess.run(
        [sys.executable, "-m", "simswarm.cli", "events", job, "--json", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert '"type":"RunProgressed"' in out.stdout
    assert "ermissions violation" not in out.stderr.lower()

    async def leftover_replays() -> list[str]:
        admin = await _bus(stack, "admin")
        try:
            return [
                c.name for c in await admin.js.consumers_info(JOB_STREAM) if "cli-events" in (c.name or "")
            ]
        finally:
            await admin.close()

    assert asyncio.run(leftover_replays()) == []  # it was allowed to delete its consumer when done
