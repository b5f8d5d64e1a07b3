"""LMSR market properties (docs/engine.md §4): prices, accounting, bounded loss, no negative holdings."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.spec import MarketSpec
from engine.market import STARTING_CASH, Market, MarketBook, build_markets, liquidity_for, market_id_for

prices0 = st.floats(min_value=0.05, max_value=0.95)
trade = st.tuples(
    st.integers(min_value=0, max_value=3),  # agent
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["yes", "no"]),
    st.floats(min_value=0.01, max_value=150.0),
)


def _book(p0: float, n: int = 4) -> MarketBook:
    return MarketBook([Market("m", "Will it?", p0, liquidity_for(STARTING_CASH, p0))], n)


@settings(max_examples=120, deadline=None)
@given(p0=prices0, trades=st.lists(trade, max_size=40))
def test_accounting_holds_across_any_trade_sequence(p0: float, trades: list) -> None:
    book = _book(p0)
    m = book.markets[0]
    for agent, side, outcome, x in trades:
        if side == "buy":
            book.buy(agent, "m", outcome, x)
        else:
            held = book.holdings[0, agent, 0 if outcome == "yes" else 1]
            book.sell(agent, "m", outcome, min(x, held) if held > 0 else x)
        py, pn = m.price("yes"), m.price("no")
        assert 0.0 < py < 1.0 and 0.0 < pn < 1.0
        assert math.isclose(py + pn, 1.0, rel_tol=1e-12)
        assert (book.holdings >= 0).all()
        assert (book.cash >= -1e-9).all()
        # money is conserved: traders' cash + what the maker collected = starting cash
        assert math.isclose(
            book.cash.sum() + m.maker_collected(), 4 * STARTING_CASH, rel_tol=1e-9, abs_tol=1e-7
        )
        # the maker's book mirrors the traders' holdings
        assert math.isclose(m.q_yes - m.q_yes0, book.holdings[0, :, 0].sum(), abs_tol=1e-7)
        assert math.isclose(m.q_no - m.q_no0, book.holdings[0, :, 1].sum(), abs_tol=1e-7)
    # worst-case maker loss: b·ln(1/p0) of the outcome that resolves (b·ln 2 at 0.5)
    collected = m.maker_collected()
    for o, p in ((0, m.initial_price), (1, 1 - m.initial_price)):
        loss = book.holdings[0, :, o].sum() - collected
        assert loss <= m.b * math.log(1 / p) + 1e-7


@settings(max_examples=100, deadline=None)
@given(p0=prices0, amount=st.floats(min_value=0.001, max_value=100.0), outcome=st.sampled_from(["yes", "no"]))
def test_buy_then_sell_returns_what_was_paid(p0: float, amount: float, outcome: str) -> None:
    book = _book(p0)
    bought = book.buy(0, "m", outcome, amount)
    assert bought.ok
    sold = book.sell(0, "m", outcome, bought.shares)
    assert sold.ok
    assert math.isclose(-sold.cost, amount, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(book.cash[0], STARTING_CASH, rel_tol=1e-12)
    assert math.isclose(book.markets[0].price("yes"), book.markets[0].initial_price, rel_tol=1e-9)


def test_maker_loss_bounded_by_b_ln2_at_even_odds() -> None:
    book = _book(0.5, n=50)
    for agent in range(50):
        book.buy(agent, "m", "yes", STARTING_CASH)
    m = book.markets[0]
    loss = book.holdings[0, :, 0].sum() - m.maker_collected()
    assert 0 < loss <= m.b * math.log(2) + 1e-9


def test_one_budget_cannot_move_a_fresh_market_past_0_9() -> None:
    book = _book(0.5)
    assert book.buy(0, "m", "yes", STARTING_CASH).price_yes <= 0.9 + 1e-9
    assert book.buy(1, "m", "no", STARTING_CASH).ok
    book2 = _book(0.5)
    assert book2.buy(0, "m", "no", STARTING_CASH).price_yes >= 0.1 - 1e-9


def test_complete_set_costs_exactly_one() -> None:
    m = Market("m", "q", 0.3, 50.0)
    c0 = m.cost_function()
    m._move("yes", 1.0)
    m._move("no", 1.0)
    assert math.isclose(m.cost_function() - c0, 1.0, rel_tol=1e-12)


def test_invalid_trades_fail_without_raising() -> None:
    book = _book(0.5)
    assert not book.buy(0, "nope", "yes", 1).ok
    assert not book.buy(0, "m", "maybe", 1).ok
    assert not book.buy(0, "m", "yes", -1).ok
    assert not book.buy(0, "m", "yes", float("nan")).ok
    assert not book.buy(0, "m", "yes", "ten").ok
    assert "exceeds cash" in (book.buy(0, "m", "yes", STARTING_CASH + 1).error or "")
    assert "holding" in (book.sell(0, "m", "yes", 1.0).error or "")
    assert book.cash[0] == STARTING_CASH and not book.holdings.any()


def test_market_ids_are_short_deterministic_slugs_with_suffixes() -> None:
    q = "Will the central bank of a very large economy cut its main policy rate before the end of June?"
    markets = build_markets([MarketSpec(question=q), MarketSpec(question=q + "!")])
    ids = [m.market_id for m in markets]
    assert all(len(i) <= 45 for i in ids)
    assert ids[0] != ids[1] and ids[1].endswith("-2")
    assert ids[0] == market_id_for(q, set())
    assert np.all(np.isfinite([m.b for m in markets]))


@settings(max_examples=80, deadline=None)
@given(p0=prices0, limit=st.floats(min_value=0.02, max_value=0.98), outcome=st.sampled_from(["yes", "no"]))
def test_limit_prices_are_respected(p0: float, limit: float, outcome: str) -> None:
    book = _book(p0)
    m = book.markets[0]
    before = m.price(outcome)
    res = book.buy(0, "m", outcome, 100.0, max_price=limit)
    if before >= limit - 1e-9:
        assert not res.ok or m.price(outcome) <= limit + 1e-9
    else:
        assert res.ok and m.price(outcome) <= limit + 1e-9
    held = book.holdings[0, 0, 0 if outcome == "yes" else 1]
    if held > 0:
        floor = m.price(outcome) * 0.5
        sold = book.sell(0, "m", outcome, held, min_price=floor)
        assert sold.ok and m.price(outcome) >= floor - 1e-9
    assert not book.buy(0, "m", outcome, 1.0, max_price=1.5).ok
