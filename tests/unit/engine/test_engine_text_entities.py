"""Entities, personas, stance and market derivation from the seed (docs/engine.md §2, §5)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.entities import extract_entities_fallback, normalise_entities
from engine.personas import build_population
from engine.questions import derive_markets_heuristic
from engine.stance import StanceScorer

SEED = (
    "Acme Corp plans to merge with Globex Corporation. CEO Jane Doe said the deal is likely to close by June. "
    "Regulators at the Federal Trade Commission have doubts. Investors cheered. Senator John Smith opposes it."
)
GOAL = "Will the Acme-Globex merger close by June?"


@pytest.fixture(scope="module")
def scorer() -> StanceScorer:
    return StanceScorer()


def test_fallback_finds_named_stakeholders_and_role_words(scorer: StanceScorer) -> None:
    names = {e.name: e for e in extract_entities_fallback(SEED, GOAL, scorer)}
    assert {
        "Acme Corp",
        "Globex Corporation",
        "Jane Doe",
        "Federal Trade Commission",
        "John Smith",
        "Investors",
    } <= set(names)
    assert "The" not in names and "CEO" not in names
    assert names["Jane Doe"].type == "person" and names["Globex Corporation"].type == "organization"
    assert names["Jane Doe"].stance > 0 > names["Federal Trade Commission"].stance


def test_fallback_is_deterministic(scorer: StanceScorer) -> None:
    assert extract_entities_fallback(SEED, GOAL, scorer) == extract_entities_fallback(SEED, GOAL, scorer)


def test_seed_without_entities_still_yields_stakeholders(scorer: StanceScorer) -> None:
    ents = extract_entities_fallback("nothing much happened here at all.", GOAL, scorer)
    assert len(ents) >= 2 and len({e.entity_id for e in ents}) == len(ents)
    assert any(e.stance > 0 for e in ents) and any(e.stance < 0 for e in ents)


def test_duplicate_names_are_not_merged() -> None:
    ents = normalise_entities(
        [
            {"name": "Bob Lee"},
            {"name": "Bob Lee", "stance": "bad"},
            {"name": ""},
            "junk",
            {"name": "X", "stance": 7, "weight": float("nan")},
        ]
    )
    assert [e.entity_id for e in ents] == ["bob-lee", "bob-lee-2", "x"]
    assert ents[0].name == ents[1].name and ents[2].stance == 1.0


def test_population_clones_with_varied_traits_deterministically(scorer: StanceScorer) -> None:
    ents = extract_entities_fallback(SEED, GOAL, scorer)
    pop = build_population(ents, 200, seed=3)
    assert pop.n == 200 and len(set(pop.ids)) == 200
    assert set(pop.ids[: len(ents)]) == {e.entity_id for e in ents}
    assert np.unique(pop.entity_index).size == len(ents)
    assert pop.traits.std(axis=0).min() > 0.01
    assert (np.abs(pop.initial_position) <= 1).all()
    again = build_population(ents, 200, seed=3)
    assert again.ids == pop.ids and (again.traits == pop.traits).all()
    assert not (build_population(ents, 200, seed=4).traits == pop.traits).all()
    small = build_population(ents, 2, seed=3)
    assert small.n == 2


def test_stance_reads_direction_relative_to_the_question(scorer: StanceScorer) -> None:
    q = "Will the Fed cut interest rates by June?"
    assert scorer.score("Yes, the Fed will very likely cut rates by June. Great news.", q) > 0.3
    assert scorer.score("I doubt the Fed cuts rates by June; very unlikely.", q) < -0.3
    assert scorer.score("It is not likely that rates get cut.", q) < 0
    bad = "Will Acme go bankrupt this year?"
    assert scorer.score("Acme posted record profits, wonderful results!", bad) < 0
    assert scorer.score("Acme is collapsing; bankruptcy is inevitable.", bad) > 0
    for text in ("", "!!!", "a" * 5000):
        assert -1.0 <= scorer.score(text, q) <= 1.0


def test_markets_derived_from_goal_and_seed(scorer: StanceScorer) -> None:
    ents = extract_entities_fallback(SEED, GOAL, scorer)
    markets = derive_markets_heuristic(GOAL, ents, 3, 30)
    assert 1 <= len(markets) <= 3 and markets[0].question == GOAL
    assert len({m.question.casefold() for m in markets}) == len(markets)
    assert all(len(m.question) <= 200 and 0.05 <= m.initial_price_yes <= 0.95 for m in markets)
