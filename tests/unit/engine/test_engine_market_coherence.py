"""Trading order and coherent markets (docs/engine.md, "Trading order" and "Coherent markets")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import artifacts as A
from contracts.ids import market_ids
from contracts.spec import MarketSpec
from contracts.worker import RunSpec
from engine import simulate_async
from engine.coherence import (
    MarketLink,
    deadline_probability,
    link_markets,
    market_belief,
    nested_pairs,
    split_horizon,
)
from engine.entities import Entity
from engine.market import ARBITRAGEUR, STARTING_CASH, Market, MarketBook, liquidity_for
from engine.policies.base import Action, Observation
from engine.questions import derive_markets_heuristic

T = TypeVar("T")
GOAL = "Will the Acme-Globex merger close by June 30?"


def _entity(entity_id: str, name: str, type: str, stance: float, weight: float, **more: Any) -> Entity:
    return Entity(entity_id=entity_id, name=name, type=type, summary="", stance=stance, weight=weight, **more)


ENTITIES = [
    _entity("patients", "Patients", "group", 0.3, 9.0),
    _entity("ftc", "Federal Trade Commission", "public_body", -0.5, 3.0),
    _entity("jane-doe", "Jane Doe", "person", 0.7, 2.0),
]


# -- horizons and links ------------------------------------------------------------------------


def test_questions_split_into_event_and_window() -> None:
    assert split_horizon("Will the strike end with a deal within 30 days?") == (
        "the strike end with a deal",
        30,
        False,
    )
    assert split_horizon("Will the strike end with a deal in the next two weeks?")[1] == 14
    assert split_horizon("Will the strike end with a deal within the first 15 days?")[1] == 15
    event, days, dated = split_horizon(GOAL)
    assert event == "the acme globex merger close" and days is None and dated


def test_nested_deadlines_are_linked_and_ordered() -> None:
    qs = [
        GOAL,
        "Will the Acme-Globex merger close within 15 days?",
        "Will the Acme-Globex merger close within 60 days?",
        "Will Jane Doe publicly back a yes to “Will the Acme-Globex merger close?” within 30 days?",
        "Will it rain?",
    ]
    links = link_markets(qs, GOAL, 30, {e.name: i for i, e in enumerate(ENTITIES)})
    assert [link.kind for link in links] == ["main", "deadline", "deadline", "actor", "other"]
    assert links[1].ratio == 0.5 and links[2].ratio == 2.0 and links[3].entity == 2
    assert nested_pairs(links) == [(1, 0), (0, 2)]


@given(
    p=st.floats(min_value=0.0, max_value=1.0),
    r1=st.floats(min_value=0.05, max_value=4.0),
    r2=st.floats(min_value=0.05, max_value=4.0),
)
def test_beliefs_are_monotone_in_the_deadline(p: float, r1: float, r2: float) -> None:
    lo, hi = sorted((r1, r2))
    assert deadline_probability(p, lo) <= deadline_probability(p, hi) + 1e-12
    assert abs(deadline_probability(p, 1.0) - p) < 1e-6
    assert (
        market_belief(p, MarketLink("deadline", ratio=lo)) <= market_belief(p, MarketLink("main")) + 1e-12
        or lo > 1.0
    )


# -- the arbitrage step ------------------------------------------------------------------------


def _nested_book(p_short: float, p_long: float, n: int = 3) -> MarketBook:
    return MarketBook(
        [
            Market("short", "Will X within 15 days?", p_short, liquidity_for(STARTING_CASH, p_short) * 2),
            Market("long", "Will X within 30 days?", p_long, liquidity_for(STARTING_CASH, p_long)),
        ],
        n,
    )


@settings(max_examples=150, deadline=None)
@given(
    p_short=st.floats(min_value=0.05, max_value=0.95),
    p_long=st.floats(min_value=0.05, max_value=0.95),
    trades=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.integers(0, 1),
            st.sampled_from(["yes", "no"]),
            st.floats(min_value=0.5, max_value=90.0),
        ),
        max_size=12,
    ),
)
def test_arbitrage_keeps_the_shorter_deadline_at_or_below_the_longer(
    p_short: float, p_long: float, trades: list
) -> None:
    book = _nested_book(p_short, p_long)
    for agent, market, outcome, amount in trades:
        book.buy(agent, ("short", "long")[market], outcome, min(amount, float(book.cash[agent])) or 0.01)
        fills = book.arbitrage(0, 1)
        short, long_ = book.markets[0].price("yes"), book.markets[1].price("yes")
        assert short <= long_ + 1e-9
        assert all(f.shares > 0 and 0 < f.cost < f.shares + 1e-9 for f in fills)  # costs less than it pays
    # exact accounting with the arbitrageur counted: cash in = cash the makers took
    collected = sum(m.maker_collected() for m in book.markets)
    assert abs(book.cash.sum() + book.arb_cash + collected - 3 * STARTING_CASH) < 1e-6
    # the arbitrageur's position pays at least what it cost in every outcome of the nested pair
    no_short, yes_long = book.arb_holdings[0, 1], book.arb_holdings[1, 0]
    for early, by_end in ((True, True), (False, True), (False, False)):
        payout = (0.0 if early else no_short) + (yes_long if by_end else 0.0)
        assert payout >= -book.arb_cash - 1e-6
    assert (book.holdings >= -1e-12).all() and (book.arb_holdings >= 0).all()


def test_no_arbitrage_when_prices_are_ordered() -> None:
    book = _nested_book(0.3, 0.6)
    assert book.arbitrage(0, 1) == [] and book.arb_cash == 0.0


# -- derived markets -----------------------------------------------------------------------------


def test_derived_markets_are_well_formed_and_ask_different_things() -> None:
    markets = derive_markets_heuristic(GOAL, ENTITIES, 3, 30)
    qs = [m.question for m in markets]
    assert qs[0] == GOAL and len(qs) == 3
    assert qs[1] == "Will the Acme-Globex merger close within 15 days?"  # the date replaced, not appended to
    for q in qs:
        windows = re.findall(r"\b(?:within|by|before)\b", q)
        assert len(windows) <= 1, q  # never two deadlines
        assert len(q) <= 200 and q.endswith("?")
    assert "Patients" not in qs[2]  # a role word is not an actor
    assert qs[2] == (
        "Will the Federal Trade Commission publicly back a yes to “Will the Acme-Globex merger "
        "close?” within 30 days?"
    )
    assert len(set(market_ids(qs))) == 3  # ids come from contracts.ids
    # by construction they differ: for any crowd belief the three markets' fair prices are apart
    links = link_markets(qs, GOAL, 30, {e.name: i for i, e in enumerate(ENTITIES)})
    for p in (0.3, 0.5, 0.7):
        fair = [market_belief(p, link, actor_position=-0.5) for link in links]
        assert min(abs(a - b) for i, a in enumerate(fair) for b in fair[i + 1 :]) > 0.04


def test_a_goal_with_a_window_gets_a_shorter_window_not_a_second_one() -> None:
    goal = "Will the FAA order the grounding of the fleet within the first 30 days?"
    qs = [m.question for m in derive_markets_heuristic(goal, [], 3, 60)]
    assert qs[1] == "Will the FAA order the grounding of the fleet within 15 days?"
    assert (
        qs[2] == "Will the FAA order the grounding of the fleet within 60 days?"
    )  # no actor: a longer window


def test_a_goal_at_a_fixed_time_gets_no_deadline_and_its_subject_is_no_actor() -> None:
    goal = "Will Maria Costa win more than 50% of the vote in the mayoral election?"
    ents = [
        _entity("maria-costa", "Maria Costa", "person", 0.4, 9.0, aliases=["Costa"], salience=1.0),
        _entity("victor-lang", "Victor Lang", "person", -0.3, 3.0, salience=0.5),
    ]
    qs = [m.question for m in derive_markets_heuristic(goal, ents, 3, 30)]
    assert qs == [
        goal,
        "Will Victor Lang publicly back a yes to “Will Maria Costa win more than 50% of the vote in the "
        "mayoral election?”",
        "Will Maria Costa win more than 62% of the vote in the mayoral election?",
    ]
    seasonal = "Will housing starts exceed 300,000 this year?"
    assert [m.question for m in derive_markets_heuristic(seasonal, [], 3, 30)] == [
        seasonal,
        "Will housing starts exceed 380,000 this year?",
    ]  # no "this year within 15 days"


def test_a_harder_threshold_is_linked_and_kept_below_the_question() -> None:
    goal = "Will Starfall gross more than $200 million in its opening weekend?"
    qs = [m.question for m in derive_markets_heuristic(goal, [], 3, 30)]
    assert qs == [goal, "Will Starfall gross more than $250 million in its opening weekend?"]
    links = link_markets(qs, goal, 30)
    assert links[1] == MarketLink("threshold", ratio=2.0) and nested_pairs(links) == [(1, 0)]
    assert market_belief(0.6, links[1]) < 0.6
    easier = link_markets(
        [goal, "Will Starfall gross more than $150 million in its opening weekend?"], goal, 30
    )
    assert easier[1].ratio == 0.5 and nested_pairs(easier) == [(0, 1)]


# -- sequential trading in a random order --------------------------------------------------------


class _Crowd:
    """Every agent holds the same belief (0.7) and sends a large limit order at it."""

    name = "crowd"

    async def decide(self, round: int, observations: list[Observation]) -> list[list[Action]]:
        out = []
        for obs in observations:
            m = obs.markets[0]
            out.append(
                [
                    Action(
                        type="buy",
                        args={"market_id": m.market_id, "outcome": "yes", "amount": 40.0, "max_price": 0.7},
                    ),
                    Action(
                        type="buy",
                        args={"market_id": m.market_id, "outcome": "no", "amount": 40.0, "max_price": 0.28},
                    ),
                ]
            )
        return out

    async def aclose(self) -> None:
        return None


MERGER = "Acme Corp and Globex Corporation plan to merge."
DOUBTED = f"{MERGER} Regulators doubt it."
SHORT = "Will the Acme-Globex merger close within 15 days?"


def _merger_run(seed_text: str, *markets: MarketSpec, **run: Any) -> RunSpec:
    """A run on GOAL over these markets; `run` sets agents, rounds, seed (no checkpoints unless it says)."""
    return RunSpec(seed_text=seed_text, goal=GOAL, markets=list(markets), **{"checkpoint_every": 0, **run})


def _crossed(main_price: float) -> list[MarketSpec]:
    """GOAL at main_price and the 15-day market inside it at 0.6: crossed when main_price < 0.6."""
    return [
        MarketSpec(question=GOAL, initial_price_yes=main_price),
        MarketSpec(question=SHORT, initial_price_yes=0.6),
    ]


def _artifact(folder: Path, name: str, typ: type[T]) -> T:
    return msgspec.json.decode((folder / name).read_bytes(), type=typ)


async def test_traders_meet_the_current_price_one_after_another(tmp_path: Path) -> None:
    spec = _merger_run(MERGER, MarketSpec(question=GOAL), agents=30, rounds=3, random_seed=4)
    await simulate_async(spec, tmp_path, policy=_Crowd())
    curve = _artifact(tmp_path, "market_curves.json", list[A.MarketCurve])[0]
    # everyone agrees on 0.7: the first traders take the price there, the rest find nothing to do,
    # and it stays (no overshoot past the crowd's belief, no swing back)
    assert [round(p.price_yes, 3) for p in curve.points[1:]] == [0.7, 0.7, 0.7]
    chat = _artifact(tmp_path, "chat_log.json", list[A.ChatLogEntry])
    unfilled = [
        e for e in chat if e.success and isinstance(e.result, dict) and e.result.get("filled") is False
    ]
    assert unfilled  # orders the price had passed are answered, not traded
    trades = _artifact(tmp_path, "trades.json", list[A.Trade])
    assert trades and all(t.success for t in trades)
    # the order of the traders is random, not the agent index
    index = {p.agent_id: i for i, p in enumerate(_artifact(tmp_path, "profiles.json", list[A.Profile]))}
    for rnd in (1, 2, 3):
        seq = list(dict.fromkeys(index[e.agent_id] for e in chat if e.round == rnd))
        assert len(seq) > 3 and seq != sorted(seq)


async def test_nested_markets_never_cross_in_a_run(tmp_path: Path) -> None:
    spec = _merger_run(DOUBTED, *_crossed(0.3), agents=60, rounds=6, random_seed=9)
    await simulate_async(spec, tmp_path)
    curves = _artifact(tmp_path, "market_curves.json", list[A.MarketCurve])
    main, early = curves[0].points, curves[1].points
    assert all(e.price_yes <= m.price_yes + 1e-6 for m, e in zip(main[1:], early[1:], strict=True))
    trades = _artifact(tmp_path, "trades.json", list[A.Trade])
    assert any(t.agent == ARBITRAGEUR for t in trades)  # the spec's crossed prices were arbitraged
    last = {}
    for t in trades:  # after every arbitrage (short NO, then long YES), the pair is ordered
        if t.success:
            last[t.market_id] = t.price_after
            if len(last) == 2 and t.agent == ARBITRAGEUR and t.market_id == curves[0].market_id:
                assert last[curves[1].market_id] <= last[curves[0].market_id] + 1e-6


async def test_resume_with_the_arbitrageur_in_the_book_ends_with_the_same_artifacts(tmp_path: Path) -> None:
    spec = _merger_run(DOUBTED, *_crossed(0.35), agents=40, rounds=6, random_seed=5, checkpoint_every=3)
    checkpoints: list[tuple[int, bytes]] = []
    await simulate_async(spec, tmp_path / "a", checkpoint_sink=lambda r, b: checkpoints.append((r, b)))
    await simulate_async(spec, tmp_path / "b", resume_from=checkpoints[0][1])
    trades = _artifact(tmp_path / "a", "trades.json", list[A.Trade])
    assert any(t.agent == ARBITRAGEUR and t.round <= checkpoints[0][0] for t in trades)
    for name in ("trades.json", "market_curves.json", "profiles.json", "chat_log.json", "posts.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_the_arbitrageurs_account_survives_a_checkpoint() -> None:
    book = _nested_book(0.7, 0.4)
    assert book.arbitrage(0, 1)
    again = _nested_book(0.7, 0.4)
    again.restore(book.state())
    assert again.arb_cash == book.arb_cash and (again.arb_holdings == book.arb_holdings).all()
