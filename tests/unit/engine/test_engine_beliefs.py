"""Belief update properties (docs/engine.md §5)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.beliefs import TrustStore, update_confidence, update_positions, update_trust

unit = st.floats(min_value=0.0, max_value=1.0)
signed = st.floats(min_value=-1.0, max_value=1.0)


def _one(position: float, confidence: float, stance: float, weight: float = 1.0,
         stubborn: float = 0.2, contrarian: float = 0.0) -> float:
    return float(update_positions(np.array([position]), np.array([confidence]), np.array([stubborn]),
                                  np.array([contrarian]), np.array([0]), np.array([stance]), np.array([weight]))[0])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(signed, st.floats(allow_nan=True, allow_infinity=True)), max_size=30),
       signed, unit, unit, st.floats(min_value=0, max_value=0.8))
def test_positions_clamped_and_never_nan(reads: list, position: float, confidence: float, stub: float,
                                         contra: float) -> None:
    stance = np.array([s for s, _ in reads], dtype=float)
    weight = np.array([w for _, w in reads], dtype=float)
    out = update_positions(np.array([position]), np.array([confidence]), np.array([stub]), np.array([contra]),
                           np.zeros(len(reads), dtype=np.int64), stance, weight)
    assert np.isfinite(out).all() and (-1 <= out).all() and (out <= 1).all()


@settings(max_examples=150, deadline=None)
@given(signed, unit, signed, st.floats(min_value=0.01, max_value=10), unit, st.floats(min_value=0, max_value=0.49))
def test_a_post_pulls_toward_its_stance(position: float, confidence: float, stance: float, weight: float,
                                        stub: float, contra: float) -> None:
    new = _one(position, confidence, stance, weight, stub, contra)
    assert abs(new - stance) <= abs(position - stance) + 1e-12
    if stub < 1 and abs(stance - position) > 1e-6 and weight > 0:
        assert (new - position) * (stance - position) >= 0


@settings(max_examples=100, deadline=None)
@given(signed, signed, st.floats(min_value=0.0, max_value=0.45))
def test_confidence_damps_the_pull(position: float, stance: float, low: float) -> None:
    high = low + 0.5
    moved_low = abs(_one(position, low, stance) - position)
    moved_high = abs(_one(position, high, stance) - position)
    assert moved_high <= moved_low + 1e-12


def test_agents_that_read_nothing_keep_their_position() -> None:
    pos = np.array([0.3, -0.2])
    out = update_positions(pos, np.array([0.5, 0.5]), np.zeros(2), np.zeros(2), np.array([0]), np.array([1.0]),
                           np.array([1.0]))
    assert out[1] == -0.2 and out[0] > 0.3


@settings(max_examples=100, deadline=None)
@given(signed, signed)
def test_trust_moves_with_agreement(position: float, stance: float) -> None:
    trust = TrustStore(3)
    update_trust(trust, np.array([0]), np.array([1]), np.array([stance]), np.array([position, 0.0, 0.0]))
    after = trust.get(np.array([0]), np.array([1]))[0]
    agreement = 1 - abs(stance - position) / 2
    assert 0.0 <= after <= 1.0
    if agreement > 0.5 + 1e-9:
        assert after > 0.5
    elif agreement < 0.5 - 1e-9:
        assert after < 0.5


def test_trust_store_roundtrip_and_duplicates() -> None:
    trust = TrustStore(10)
    update_trust(trust, np.array([1, 1, 2]), np.array([3, 3, 4]), np.array([0.9, 0.8, -0.9]),
                 np.array([0.0, 0.9, 0.9] + [0.0] * 7))
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
