"""Belief dynamics (docs/engine.md, "Beliefs"): log-odds, novelty, trust, anchoring, no drift."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.beliefs import (
    TrustStore,
    mark_seen,
    novelty,
    to_logodds,
    to_position,
    update_beliefs,
    update_confidence,
    update_trust,
)

unit = st.floats(min_value=0.0, max_value=1.0)
signed = st.floats(min_value=-1.0, max_value=1.0)
logodds = st.floats(min_value=-5.0, max_value=5.0)


def _one(
    l0: float,
    confidence: float,
    stance: float,
    weight: float = 1.0,
    stubborn: float = 0.2,
    contrarian: float = 0.0,
    anchor: float | None = None,
) -> float:
    return float(
        update_beliefs(
            np.array([l0]),
            np.array([l0 if anchor is None else anchor]),
            np.array([confidence]),
            np.array([stubborn]),
            np.array([contrarian]),
            np.array([0]),
            np.array([stance]),
            np.array([weight]),
        )[0]
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(signed, st.floats(allow_nan=True, allow_infinity=True)), max_size=30),
    logodds,
    unit,
    unit,
    st.floats(min_value=0, max_value=0.8),
)
def test_beliefs_bounded_and_never_nan(
    reads: list, l0: float, confidence: float, stub: float, contra: float
) -> None:
    stance = np.array([s for s, _ in reads], dtype=float)
    weight = np.array([w for _, w in reads], dtype=float)
    out = update_beliefs(
        np.array([l0]),
        np.array([0.0]),
        np.array([confidence]),
        np.array([stub]),
        np.array([contra]),
        np.zeros(len(reads), dtype=np.int64),
        stance,
        weight,
    )
    assert np.isfinite(out).all() and (np.abs(out) <= 6.0).all()
    assert (np.abs(to_position(out)) <= 1.0).all()


@settings(max_examples=150, deadline=None)
@given(
    logodds,
    unit,
    signed,
    st.floats(min_value=0.01, max_value=10),
    st.floats(0, 0.95),
    st.floats(min_value=0, max_value=0.49),
)
def test_evidence_moves_belief_its_way(
    l0: float, confidence: float, stance: float, weight: float, stub: float, contra: float
) -> None:
    """Anchored at its own view, an agent moves in the direction of the evidence it read."""
    new = _one(l0, confidence, stance, weight, stub, contra)
    assert (new - l0) * stance >= -1e-12
    if abs(stance) > 1e-6 and abs(l0) < 5.5:
        assert new != l0


@settings(max_examples=100, deadline=None)
@given(logodds, signed, st.floats(min_value=0.0, max_value=0.45))
def test_confidence_and_stubbornness_damp_the_update(l0: float, stance: float, low: float) -> None:
    assert abs(_one(l0, low + 0.5, stance) - l0) <= abs(_one(l0, low, stance) - l0) + 1e-12
    assert (
        abs(_one(l0, 0.5, stance, stubborn=low + 0.5) - l0)
        <= abs(_one(l0, 0.5, stance, stubborn=low) - l0) + 1e-12
    )


def test_no_drift_to_a_constant_without_evidence() -> None:
    """The old model pulled every agent toward 0 (~ -0.33 x its start); now an agent that reads nothing,
    or reads only posts without a stance, keeps its view: starting beliefs of a varied population survive
    many rounds unchanged, mean and spread alike."""
    rng = np.random.default_rng(3)
    n = 500
    start = rng.normal(0.0, 1.5, n)
    L, anchor = start.copy(), start.copy()
    conf, stub, contra = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 0.3, n)
    readers = np.repeat(np.arange(n), 5)
    for _ in range(50):
        L = update_beliefs(
            L, anchor, conf, stub, contra, readers, np.zeros(len(readers)), np.ones(len(readers))
        )
    assert np.allclose(L, start)
    for _ in range(50):
        L = update_beliefs(
            L, anchor, conf, stub, contra, np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
        )
    assert np.allclose(L, start)


def test_anchor_pulls_back_toward_the_agents_own_start_not_to_zero() -> None:
    moved = np.array([2.0, -2.0])
    anchor = np.array([1.0, -1.5])
    out = moved
    for _ in range(200):
        out = update_beliefs(
            out,
            anchor,
            np.zeros(2),
            np.array([0.8, 0.8]),
            np.zeros(2),
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            np.zeros(0),
        )
    assert np.allclose(out, anchor, atol=1e-3)


def test_a_repeated_claim_counts_less() -> None:
    seen = np.zeros((2, 3), dtype=np.uint8)
    known = np.zeros((2, 3), dtype=bool)
    reader, claim = np.array([0, 0, 1]), np.array([2, -1, 2])
    first = novelty(seen, reader, claim)
    mark_seen(seen, known, reader, claim)
    second = novelty(seen, reader, claim)
    assert first[0] == 1.0 and second[0] == 0.5 and first[1] == second[1] < 1.0
    assert known[0, 2] and known[1, 2] and not known[0, 0]
    big = np.zeros((3000, 2000), dtype=np.uint8)  # the sparse path of mark_seen
    mark_seen(big, np.zeros_like(big, dtype=bool), np.array([5, 5, 7]), np.array([9, 9, 1]))
    assert big[5, 9] == 2 and big[7, 1] == 1 and big.sum() == 3


def test_polarisation_is_possible() -> None:
    """Two camps that read each other and distrust what disagrees with them drift apart, not together."""
    n = 40
    L = np.where(np.arange(n) < n // 2, 1.0, -1.0)
    anchor = L.copy()
    trust = TrustStore(n)
    zeros = np.zeros(n)
    for _ in range(30):
        reader = np.repeat(np.arange(n), n)
        author = np.tile(np.arange(n), n)
        keep = reader != author
        reader, author = reader[keep], author[keep]
        pos = to_position(L)
        stance = np.sign(pos[author]) * 0.6
        weight = 2.0 * trust.get(reader, author)
        L = update_beliefs(L, anchor, zeros, np.full(n, 0.1), zeros, reader, stance, weight)
        update_trust(trust, reader, author, stance, to_position(L))
    assert L[: n // 2].min() > 1.0 and L[n // 2 :].max() < -1.0
    assert (
        trust.get(np.array([0]), np.array([n - 1]))[0]
        < 0.2
        < 0.8
        < trust.get(np.array([0]), np.array([1]))[0]
    )


def test_logodds_roundtrip() -> None:
    pos = np.linspace(-0.99, 0.99, 11)
    assert np.allclose(to_position(to_logodds(pos)), pos)


@settings(max_examples=100, deadline=None)
@given(signed, signed)
def test_trust_moves_with_agreement(position: float, stance: float) -> None:
    trust = TrustStore(3)
    update_trust(trust, np.array([0]), np.array([1]), np.array([stance]), np.array([position, 0.0, 0.0]))
    after = trust.get(np.array([0]), np.array([1]))[0]
    assert 0.0 <= after <= 1.0
    if stance * position > 1e-9:
        assert after > 0.5
    elif stance * position < -1e-9:
        assert after < 0.5


def test_trust_store_roundtrip_and_duplicates() -> None:
    trust = TrustStore(10)
    update_trust(
        trust,
        np.array([1, 1, 2]),
        np.array([3, 3, 4]),
        np.array([0.9, 0.8, -0.9]),
        np.array([0.0, 0.9, 0.9] + [0.0] * 7),
    )
    got = trust.get(np.array([1, 2, 5]), np.array([3, 4, 6]))
    assert got[0] > 0.5 and got[1] < 0.5 and got[2] == 0.5
    again = TrustStore.from_state(trust.state())
    assert (again.get(np.array([1, 2]), np.array([3, 4])) == got[:2]).all()


@settings(max_examples=100, deadline=None)
@given(unit, st.integers(0, 50), st.integers(0, 50))
def test_confidence_rises_with_likes_falls_with_dislikes(conf: float, likes: int, dislikes: int) -> None:
    out = float(update_confidence(np.array([conf]), np.array([float(likes)]), np.array([float(dislikes)]))[0])
    assert 0.0 <= out <= 1.0
    if likes > dislikes:
        assert out >= conf
    if dislikes > likes:
        assert out <= conf
