"""docs/events.md stays true to contracts/: every event and command, its fields, version and subject.

Other systems read that page to subscribe to the job events, so a field added, renamed or removed in
contracts/ without the page following is a broken contract. The orchestrator's inputs and outputs are
read from its code, so the producer and consumer lines cannot drift from what it does.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from contracts import commands, subjects
from contracts.events import EVENT_TYPES, Event

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"
ENVELOPE = {f.name for f in msgspec.structs.fields(Event)}
# Every Struct defined in contracts/commands.py: a command added there must be documented too.
COMMANDS: dict[str, type[msgspec.Struct]] = {
    name: cls
    for name, cls in vars(commands).items()
    if isinstance(cls, type) and issubclass(cls, msgspec.Struct) and cls.__module__ == commands.__name__
}
COMMAND_SUBJECTS = [value for name, value in vars(subjects).items() if name.startswith("CMD_")]
_HEADING = re.compile(r"^(#{2,3}) (.+?)\s*$", re.MULTILINE)
_FIELD_ROW = re.compile(r"^\| `([a-z_][a-z0-9_]*)` \|", re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """Level-3 heading -> its text up to the next level-2 or level-3 heading."""
    heads = list(_HEADING.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(heads):
        if m.group(1) == "###":
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            out[m.group(2)] = text[m.end() : end]
    return out


def documented_fields(section: str) -> set[str]:
    return set(_FIELD_ROW.findall(section))


def header_line(section: str) -> str:
    """The first non-empty line: subject, version, producer, consumers."""
    return next(line for line in section.splitlines() if line.strip())


@pytest.fixture(scope="module")
def doc() -> dict[str, str]:
    return sections(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_is_documented_with_exactly_its_fields(doc: dict[str, str], name: str) -> None:
    assert name in doc, f"docs/events.md has no '### {name}' section"
    cls = EVENT_TYPES[name]
    fields = {f.name for f in msgspec.structs.fields(cls)} - ENVELOPE
    documented = documented_fields(doc[name])
    assert fields - documented == set(), f"{name}: fields missing from docs/events.md"
    assert documented - fields == set(), f"{name}: docs/events.md lists fields the event does not have"


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_states_its_subject_and_version(doc: dict[str, str], name: str) -> None:
    head = header_line(doc[name])
    assert f"`{subjects.job_subject('<job_id>', name)}`" in head
    default_version = next(
        f.default for f in msgspec.structs.fields(EVENT_TYPES[name]) if f.name == "version"
    )
    assert f"version {default_version}" in head
    assert ("**terminal**" in head) == EVENT_TYPES[name].terminal, f"{name}: terminal marker"


def test_the_envelope_is_documented(doc: dict[str, str]) -> None:
    text = DOC.read_text(encoding="utf-8")
    envelope = text.split("## The envelope", 1)[1].split("\n## ", 1)[0]
    assert documented_fields(envelope) == ENVELOPE | {"type"}


def test_no_section_documents_an_event_or_command_that_does_not_exist(doc: dict[str, str]) -> None:
    assert set(doc) - set(EVENT_TYPES) - set(COMMANDS) == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_documented_with_exactly_its_fields(doc: dict[str, str], name: str) -> None:
    assert name in doc, f"docs/events.md has no '### {name}' section"
    fields = {f.name for f in msgspec.structs.fields(COMMANDS[name])}
    assert documented_fields(doc[name]) == fields


def test_command_subjects_and_streams_are_the_code_s() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert COMMAND_SUBJECTS, "contracts.subjects names no command subjects"
    for subject in COMMAND_SUBJECTS:
        assert f"`{subject}`" in text, f"docs/events.md does not name the command subject {subject}"
    for stream in subjects.STREAMS:
        assert f"stream `{stream.name}`" in text
    assert f"queue group `{subjects.ORCHESTRATOR_QUEUE}`" in text


def test_orchestrator_producer_and_consumer_lines_match_its_code(doc: dict[str, str]) -> None:
    from services.orchestrator.mapping import PUBLISHED
    from services.orchestrator.process_manager import INBOUND_EVENT_TYPES

    for name in EVENT_TYPES:
        head = header_line(doc[name])
        producer = head.split("producer:", 1)[1].split("·", 1)[0]
        consumers = head.split("consumers:", 1)[1].split("·", 1)[0].split("(", 1)[0]
        assert ("orchestrator" in producer) == (name in PUBLISHED), f"{name}: producer line"
        assert ("orchestrator" in consumers) == (name in INBOUND_EVENT_TYPES), f"{name}: consumers line"


def test_producer_lines_name_the_service_allowed_to_publish_the_event(doc: dict[str, str]) -> None:
    """contracts.subjects.EVENT_PUBLISHERS is what NATS permissions enforce: the page must agree."""
    for service, names in subjects.EVENT_PUBLISHERS.items():
        for name in names:
            producer = header_line(doc[name]).split("producer:", 1)[1].split("·", 1)[0]
            named = {s for s in subjects.EVENT_PUBLISHERS if re.search(rf"\b{s}\b", producer)}
            assert named == {service}, f"{name}: producer line names {named or 'nobody'}, the code {service}"
    assert {n for names in subjects.EVENT_PUBLISHERS.values() for n in names} == set(EVENT_TYPES)


def test_the_checks_catch_a_stale_page() -> None:
    """The parsing above must notice a renamed field, or these tests could never fail."""
    stale = "### RunFailed\n\nx\n\n| field | type | meaning |\n| --- | --- | --- |\n| `run_id` | str | x |\n| `why` | str | x |\n"
    documented = documented_fields(sections(stale)["RunFailed"])
    fields = {f.name for f in msgspec.structs.fields(EVENT_TYPES["RunFailed"])} - ENVELOPE
    assert documented != fields and "reason" in fields - documented and "why" in documented - fields
