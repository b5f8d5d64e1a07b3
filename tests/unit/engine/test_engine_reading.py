"""Reading the seed (docs/engine.md, "Reading the seed"): proposition, stakeholders, claims, knowledge."""

from __future__ import annotations

import numpy as np

from engine.knowledge import initial_knowledge
from engine.personas import build_population
from engine.proposition import parse_proposition
from engine.reading import read_seed_rules, reading_for_question

SEED = """TRANSIT STRIKE ENTERS THIRD WEEK
Incident details:
LONDON — The Metro Transit Union (MTU) has been on strike since March 2. Union president Dana Ruiz said the mood
at the rally was fantastic and members are proud.
Only 9 of 31 members of the MTU executive back the latest offer, according to a leaked tally.
The Transit Authority said on March 9 that it will not improve its wage offer.
A Boeing 737 and a Learjet were grounded at the airport during the protest.
On March 20, the Progressive Caucus said its members will vote against the offer.
Ruiz told reporters the union is united."""
Q = "Will the strike end with a signed deal within 30 days?"
NOT_Q = "Will the strike fail to end with a signed deal within 30 days?"


def test_question_parsed_as_a_proposition_with_polarity_window_and_threshold() -> None:
    a, not_a = parse_proposition(Q), parse_proposition(NOT_Q)
    assert a.polarity == 1 and not_a.polarity == -1 and not_a.negation == "fail to"
    assert a.statement == not_a.statement and a.window_days == 30
    assert parse_proposition("Won't the bill pass?").polarity == -1
    assert parse_proposition("Will Acme not ship the phone by June?").polarity == -1
    t = parse_proposition("Will Brent close above $120 within 2 weeks?")
    assert (
        t.window_days == 14
        and t.thresholds[0].op == ">"
        and t.thresholds[0].value == 120
        and t.thresholds[0].unit == "$"
    )
    pct = parse_proposition("Will turnout exceed 55% in the vote?").thresholds[0]
    assert (pct.op, pct.value, pct.unit) == (">", 55.0, "%")


def test_negation_flips_the_stance_of_every_claim() -> None:
    a = read_seed_rules(SEED, Q)
    not_a = read_seed_rules(SEED, NOT_Q)
    assert [c.text for c in a.claims] == [c.text for c in not_a.claims]
    moving = [(x, y) for x, y in zip(a.claims, not_a.claims, strict=True) if x.strength >= 0.1]
    assert moving
    for x, y in moving:
        assert x.stance == -y.stance and x.direction == y.direction and x.label != y.label
    again = reading_for_question(a, NOT_Q)
    assert [c.stance for c in again.claims] == [c.stance for c in not_a.claims]


def test_a_count_below_the_threshold_reads_as_against_however_upbeat() -> None:
    reading = read_seed_rules(
        "Great news: only 9 of 31 members back it, and they are thrilled and proud.", "Will the motion pass?"
    )
    (claim,) = reading.claims
    assert claim.label == "against" and claim.stance < -0.3
    assert any("29%" in r for r in claim.reasons)
    above = read_seed_rules(
        "Sadly, 24 of 31 members back it, a grim day for critics.", "Will the motion pass?"
    )
    assert above.claims[0].label == "for"
    needed = read_seed_rules(
        "The bill needs 60 votes. Leaders say 52 senators support it.", "Will the bill pass?"
    )
    assert needed.claims[-1].label == "against"
    price = read_seed_rules(
        "Brent rallied joyfully and closed at $95 a barrel.", "Will Brent close above $120?"
    )
    assert price.claims[0].label == "against"


def test_negated_facts_read_as_such() -> None:
    reading = read_seed_rules(
        "The authority said it will not approve the merger. The board approved the merger.",
        "Will the merger be approved?",
    )
    assert [c.label for c in reading.claims] == ["against", "for"]


def test_aliases_merge_and_fragments_objects_and_headlines_are_not_stakeholders() -> None:
    reading = read_seed_rules(SEED, Q)
    by_name = {e.name: e for e in reading.entities}
    assert "MTU" in by_name["Metro Transit Union"].aliases and "MTU" not in by_name
    assert "Ruiz" in by_name["Dana Ruiz"].aliases and by_name["Dana Ruiz"].type == "person"
    assert by_name["Transit Authority"].type == "public_body"
    assert "Progressive Caucus" in by_name and by_name["Progressive Caucus"].type == "group"
    names = " | ".join(by_name)
    for junk in ("TRANSIT", "STRIKE", "Incident", "LONDON", "Boeing", "Learjet", "Union president"):
        assert junk not in names, junk
    assert max(e.salience for e in reading.entities) == 1.0


def test_stakeholder_count_scales_with_seed_and_population() -> None:
    names = [f"Company{chr(65 + i)}{chr(65 + j)} Holdings" for i in range(8) for j in range(5)]
    seed = " ".join(f"{n} said the plan will pass and {n} signed up." for n in names)
    big = read_seed_rules(seed, "Will the plan pass?", agents=10_000)
    small = read_seed_rules(seed, "Will the plan pass?", agents=6)
    assert len(big.entities) > 16 and len(small.entities) <= 6


def test_claims_have_sources_order_and_later_dates_arrive_later() -> None:
    reading = read_seed_rules(SEED, Q, rounds=20)
    sources = {c.source for c in reading.claims}
    assert {"Transit Authority", "Progressive Caucus", "Dana Ruiz"} <= sources
    assert [c.order for c in reading.claims] == sorted(c.order for c in reading.claims)
    dated = sorted((c.date_key, c.arrival_round) for c in reading.claims if c.date_key)
    assert dated[0][1] == 0 and dated[-1][1] == 10
    assert [r for _, r in dated] == sorted(r for _, r in dated)


def test_agents_start_from_what_their_stakeholder_knows() -> None:
    reading = read_seed_rules(SEED, Q)
    pop = build_population(reading.entities, 400, seed=1)
    principal = np.array(["--" not in a for a in pop.ids])
    known, prior = initial_knowledge(reading.entities, reading.claims, pop.entity_index, principal, seed=1)
    assert len({row.tobytes() for row in known}) >= 8  # information differs between agents
    idx = {e.entity_id: i for i, e in enumerate(reading.entities)}
    for k, c in enumerate(reading.claims):
        if c.source_id and c.arrival_round == 0:
            assert known[idx[c.source_id], k]  # a principal knows what its stakeholder asserts
    again, prior2 = initial_knowledge(reading.entities, reading.claims, pop.entity_index, principal, seed=1)
    assert (again == known).all() and (prior2 == prior).all()


def test_a_stakeholders_agents_lean_its_way() -> None:
    """Agents of a stakeholder whose claims point to YES start higher than those of one pointing to NO."""
    seed = (
        "Mayor Jane Holt said the council approved the plan and the deal is on track. "
        "Holt said the vote passed easily. The Taxpayers Alliance said it will not accept the plan. "
        "The Taxpayers Alliance said talks collapsed."
    )
    reading = read_seed_rules(seed, "Will the plan go ahead?")
    by_name = {e.name: i for i, e in enumerate(reading.entities)}
    pop = build_population(reading.entities, 300, seed=2)
    principal = np.array(["--" not in a for a in pop.ids])
    _, prior = initial_knowledge(reading.entities, reading.claims, pop.entity_index, principal, seed=2)
    yes = prior[pop.entity_index == by_name["Jane Holt"]].mean()
    no = prior[pop.entity_index == by_name["Taxpayers Alliance"]].mean()
    assert yes > 0 > no and yes - no > 0.6


def test_a_model_reading_is_validated_and_turned_toward_the_question() -> None:
    from engine.reading import from_llm

    doc = {
        "proposition": {"statement": "the strike ends with a deal", "negated": True},
        "stakeholders": [
            {"name": "Metro Transit Union", "aliases": ["MTU"], "salience": 1.0, "type": "organization"},
            {"name": "Transit Authority", "salience": 0.6, "type": "public_body"},
        ],
        "claims": [
            {
                "text": "Only 9 of 31 MTU executive members back the offer",
                "source": "MTU",
                "direction": -0.8,
                "strength": 0.9,
            },
            {
                "text": "The Transit Authority raised its offer",
                "source": "Transit Authority",
                "direction": 0.5,
                "strength": 0.5,
            },
        ],
    }
    reading = from_llm(doc, SEED, NOT_Q, agents=100, rounds=10)
    assert reading is not None and reading.source == "llm" and reading.proposition.polarity == -1
    first, second = reading.claims
    assert first.source == "Metro Transit Union" and first.direction == -0.8 and first.stance == 0.8
    assert first.label == "for" and second.label == "against"  # toward YES on "fail to end with a deal"
    assert (
        from_llm(
            {"proposition": {}, "stakeholders": [{"name": "Only one"}], "claims": []},
            SEED,
            Q,
            agents=10,
            rounds=5,
        )
        is None
    )


def test_places_modifiers_and_laws_are_not_stakeholders() -> None:
    seed = (
        "A jet from Montreal, Quebec, hit a truck at LaGuardia Airport. US flights were grounded. "
        "The NTSB has opened an investigation and the NTSB said it will report soon. "
        "Critics say the Digital Services Act is weak. LaGuardia is busy."
    )
    names = {e.name: e for e in read_seed_rules(seed, "Will the FAA order new rules for LaGuardia?").entities}
    assert "NTSB" in names and "LaGuardia" in names["LaGuardia Airport"].aliases
    for junk in ("Quebec", "Montreal", "US", "Digital Services Act"):
        assert junk not in names, junk
