"""The contract: schemas up to date, events round-trip, spec validation names the field."""

from __future__ import annotations

import pytest

from contracts import schema
from contracts.events import EVENT_TYPES, JobCreated, MalformedEvent, decode_event, encode_event, new_event
from contracts.spec import JobSpec, MarketSpec, SpecError, Tier, resolve_run, validate_spec


def test_schema_files_are_not_stale():
    assert schema.stale() == [], "run `simswarm contracts schema` and commit contracts/schema/"


def test_every_event_round_trips_with_its_envelope():
    spec = JobSpec(seed_text="A seed.", goal="Will it happen?")
    ev = new_event(JobCreated, "job1", owner_id="u", spec=spec, run=resolve_run(spec, 7))
    back = decode_event(encode_event(ev))
    assert back == ev and back.type == "JobCreated" and back.version == 1
    assert set(EVENT_TYPES) >= {"JobCreated", "PodRequested", "RunCompleted", "JobCompleted", "JobCancelled"}


def test_garbage_is_a_malformed_event_not_a_crash():
    with pytest.raises(MalformedEvent):
        decode_event(b'{"type": "NoSuchEvent"}')
    with pytest.raises(MalformedEvent):
        decode_event(b"not json")


def test_seed_over_the_limit_names_the_field():
    with pytest.raises(SpecError) as err:
        validate_spec(JobSpec(seed_text="x" * 50_001, goal="Will it happen?"))
    assert err.value.field == "seed_text" and "50,000" in str(err.value)


def test_markets_are_deduplicated_and_clamped():
    spec = JobSpec(
        seed_text="s",
        goal="Will it happen?",
        tier=Tier.SMALL,
        markets=[MarketSpec(question="Q one?", initial_price_yes=0.99), MarketSpec(question="q ONE?")],
    )
    run = resolve_run(spec, 1)
    assert [m.question for m in run.markets] == ["Q one?"] and run.markets[0].initial_price_yes == 0.95
