"""The NATS permission table in contracts.subjects stays true to the contract it guards."""

from __future__ import annotations

from contracts.events import EVENT_TYPES
from contracts.subjects import (
    COMMAND_SENDERS,
    EVENT_PUBLISHERS,
    NATS_USERS,
    ORCHESTRATOR_COMMANDS,
    SERVICE_USERS,
    event_filter,
    nats_permissions,
)
from services.kit.settings import NatsLogin, SettingsError, load_settings


def test_every_event_type_has_exactly_one_publisher():
    authors = [t for types in EVENT_PUBLISHERS.values() for t in types]
    assert sorted(authors) == sorted(EVENT_TYPES)  # no unknown name, none missing, none twice


def test_no_service_may_publish_anything_outside_its_lists():
    for user in SERVICE_USERS:
        perms = nats_permissions(user)
        assert ">" not in perms.publish and ">" not in perms.subscribe
        assert "simswarm.job.>" not in perms.publish
        own = {event_filter(t) for t in EVENT_PUBLISHERS.get(user, ())}
        events = {s for s in perms.publish if s.startswith("simswarm.job.")}
        assert events == own
        commands = {s for s in perms.publish if s.startswith("simswarm.cmd.")}
        assert commands == set(COMMAND_SENDERS.get(user, ()))
        assert perms.subscribe[0] == f"_INBOX.{user}.>"
        assert not any(s.startswith("_INBOX") and s != perms.subscribe[0] for s in perms.subscribe)


def test_only_the_orchestrator_answers_commands_and_changes_streams():
    for user in NATS_USERS:
        perms = nats_permissions(user)
        if user in ("orchestrator", "admin"):
            assert perms.allow_responses
            continue
        assert not perms.allow_responses
        assert not set(ORCHESTRATOR_COMMANDS) & set(perms.subscribe)
        assert not [s for s in perms.publish if ".STREAM.UPDATE." in s or ".STREAM.DELETE." in s]


def test_the_operator_user_only_reads():
    perms = nats_permissions("operator")
    assert not [s for s in perms.publish if s.startswith("simswarm.") or ".STREAM.CREATE." in s]


def test_a_login_never_prints_its_password(tmp_path):
    login = NatsLogin(user="gateway", password="hunter2")
    assert "hunter2" not in repr(login)
    env = {"SIMSWARM_HOME": str(tmp_path), "NATS_USER": "gateway", "NATS_PASSWORD": "pw"}
    assert load_settings(env).nats_login("gateway") == NatsLogin(user="gateway", password="pw")
    in_url = load_settings(
        {"SIMSWARM_HOME": str(tmp_path / "u"), "NATS_URL": "nats://graph:p%40ss@nats:4222"}
    )
    assert in_url.nats_login("graph") == NatsLogin(user="graph", password="p@ss")
    off = load_settings({"SIMSWARM_HOME": str(tmp_path / "b"), "SIMSWARM_NATS_AUTH": "false"})
    assert off.nats_login("gateway") is None
    try:
        load_settings({"SIMSWARM_HOME": str(tmp_path / "c")}).nats_login("graph")
    except SettingsError as exc:
        assert "NATS_USER and NATS_PASSWORD" in str(exc)
    else:
        raise AssertionError("a service without NATS credentials must not start")
