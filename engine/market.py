"""LMSR binary markets with exact complete-set accounting (docs/engine.md §4).

Cost `C(q) = b·ln(e^{q_yes/b} + e^{q_no/b})`; price = softmax(q/b). A share of an outcome pays 1 if
that outcome resolves, so one YES plus one NO always costs exactly 1 (a complete set). `q` counts
the shares traders hold (plus an offset that sets the initial price), so the maker's worst-case loss
is `b·ln(1/p0)` of the outcome's initial price (`b·ln 2` at 0.5). All formulas are written in
log-space so that large quantities never overflow.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from contracts.ids import market_id_for
from contracts.spec import MarketSpec

STARTING_CASH = 100.0
ARBITRAGEUR = "arbitrageur"  # the agent name of the house arbitrageur's trades
MAX_FRESH_MOVE = 0.9
EPS = 1e-9


def liquidity_for(budget: float, initial_price_yes: float) -> float:
    """`b` such that spending `budget` on either side from the initial price stops near 0.9.

    Buying with `a` cash takes the other side's price from p to p·e^{-a/b}; solving for 0.1 gives
    b = a / ln(p/0.1). The ratio is floored at 2 so markets that start near an edge stay liquid.
    """
    p = min(0.95, max(0.05, initial_price_yes))
    ratios = [max(2.0, side / (1.0 - MAX_FRESH_MOVE)) for side in (p, 1.0 - p)]
    return max(budget / math.log(r) for r in ratios)


def _log_price(diff: float) -> float:
    """ln(1 / (1 + e^{diff})) computed without overflow."""
    if diff > 0:
        return -(diff + math.log1p(math.exp(-diff)))
    return -math.log1p(math.exp(diff))


class Market:
    """One binary market's maker state. Holdings and cash live in the MarketBook."""

    __slots__ = ("market_id", "question", "b", "q_yes", "q_no", "q_yes0", "q_no0", "initial_price")

    def __init__(self, market_id: str, question: str, initial_price_yes: float, b: float) -> None:
        self.market_id = market_id
        self.question = question
        self.initial_price = min(0.95, max(0.05, float(initial_price_yes)))
        self.b = float(b)
        self.q_yes = self.b * math.log(self.initial_price / (1.0 - self.initial_price))
        self.q_no = 0.0
        self.q_yes0, self.q_no0 = self.q_yes, self.q_no

    def _q(self, outcome: str) -> tuple[float, float]:
        return (self.q_yes, self.q_no) if outcome == "yes" else (self.q_no, self.q_yes)

    def price(self, outcome: str = "yes") -> float:
        own, other = self._q(outcome)
        return math.exp(_log_price((other - own) / self.b))

    def cost_function(self) -> float:
        hi = max(self.q_yes, self.q_no)
        return hi + self.b * math.log(
            math.exp((self.q_yes - hi) / self.b) + math.exp((self.q_no - hi) / self.b)
        )

    def shares_for(self, outcome: str, amount: float) -> float:
        """Shares of `outcome` that `amount` cash buys: s = a + b·ln(1 - p_o'·e^{-a/b}) - b·ln p_o."""
        own, other = self._q(outcome)
        log_p = _log_price((other - own) / self.b)
        p_other = math.exp(_log_price((own - other) / self.b))
        return amount + self.b * math.log1p(-p_other * math.exp(-amount / self.b)) - self.b * log_p

    def spend_to_reach(self, outcome: str, limit: float) -> float:
        """Cash that takes `outcome`'s price up to `limit`: b·ln(p_other / (1 - limit)); 0 if already there."""
        p_other = self.price("no" if outcome == "yes" else "yes")
        return max(0.0, self.b * math.log(p_other / (1.0 - limit)))

    def shares_to_reach(self, outcome: str, limit: float) -> float:
        """Shares of `outcome` whose sale takes its price down to `limit`: b·ln(p(1-L) / (L(1-p)))."""
        p = self.price(outcome)
        return max(0.0, self.b * math.log(p * (1.0 - limit) / (limit * (1.0 - p))))

    def proceeds_for(self, outcome: str, shares: float) -> float:
        """Cash from selling `shares` of `outcome`: -b·ln(1 - p_o·(1 - e^{-s/b}))."""
        p = self.price(outcome)
        return -self.b * math.log1p(-p * -math.expm1(-shares / self.b))

    def _move(self, outcome: str, shares: float) -> None:
        if outcome == "yes":
            self.q_yes += shares
        else:
            self.q_no += shares

    def maker_collected(self) -> float:
        """Net cash the maker has taken in: C(q) - C(q0)."""
        hi = max(self.q_yes0, self.q_no0)
        c0 = hi + self.b * math.log(
            math.exp((self.q_yes0 - hi) / self.b) + math.exp((self.q_no0 - hi) / self.b)
        )
        return self.cost_function() - c0

    def state(self) -> list[Any]:
        return [
            self.market_id,
            self.question,
            self.initial_price,
            self.b,
            self.q_yes,
            self.q_no,
            self.q_yes0,
            self.q_no0,
        ]

    @classmethod
    def from_state(cls, s: list[Any]) -> Market:
        m = cls(s[0], s[1], s[2], s[3])
        m.q_yes, m.q_no, m.q_yes0, m.q_no0 = s[4], s[5], s[6], s[7]
        return m


class TradeOutcome:
    """What a buy or sell did (or why it failed)."""

    __slots__ = ("ok", "error", "shares", "cost", "price_yes", "cash", "unfilled")

    def __init__(
        self,
        ok: bool,
        error: str | None = None,
        shares: float = 0.0,
        cost: float = 0.0,
        price_yes: float = 0.0,
        cash: float = 0.0,
        unfilled: bool = False,
    ) -> None:
        self.ok, self.error, self.shares, self.cost = ok, error, shares, cost
        self.price_yes, self.cash = price_yes, cash
        self.unfilled = unfilled  # a valid limit order whose price was already past its limit


class ArbitrageFill(NamedTuple):
    """One arbitrage trade: `shares` of `outcome` bought in market `market` for `cost`."""

    market: int
    outcome: str
    shares: float
    cost: float
    price_yes: float


class _Side(NamedTuple):
    """What is mirrored between a buy and a sell; `MarketBook._order` checks both the same way."""

    buying: bool
    size: str  # the argument sizing the order: cash to spend, or shares to sell
    limit: str  # the argument of the limit price
    passed: str  # where the price stands when the limit was already passed
    too_large: str  # the refusal of a size over what the agent has ({size}, {has}, {outcome})


_BUY = _Side(True, "amount", "max_price", "at or above", "amount {size:.2f} exceeds cash {has:.2f}")
_SELL = _Side(
    False, "shares", "min_price", "at or below", "cannot sell {size:.4f} {outcome} shares; holding {has:.4f}"
)


class _Order(NamedTuple):
    """A checked order: its market (index and object), outcome index and size."""

    m: int
    o: int
    market: Market
    size: float


class MarketBook:
    """All markets plus every agent's cash and holdings (numpy: holdings[market, agent, yes|no])."""

    def __init__(self, markets: list[Market], n_agents: int, starting_cash: float = STARTING_CASH) -> None:
        self.markets = markets
        self.index = {m.market_id: i for i, m in enumerate(markets)}
        self.cash = np.full(n_agents, float(starting_cash))
        self.holdings = np.zeros((len(markets), n_agents, 2))
        self.starting_cash = float(starting_cash)
        # The house arbitrageur that keeps nested markets coherent (see `arbitrage`): the cash it has
        # put in (negative) and the shares it holds, [market, yes|no].
        self.arb_cash = 0.0
        self.arb_holdings = np.zeros((len(markets), 2))

    def prices(self) -> np.ndarray:
        return np.array([m.price("yes") for m in self.markets])

    def _lookup(self, market_id: Any, outcome: Any) -> tuple[int, int, str | None]:
        if not isinstance(market_id, str) or market_id not in self.index:
            return -1, -1, f"unknown market_id {market_id!r}"
        if outcome not in ("yes", "no"):
            return -1, -1, f"outcome must be 'yes' or 'no', got {outcome!r}"
        return self.index[market_id], 0 if outcome == "yes" else 1, None

    @staticmethod
    def _limit(value: Any, name: str) -> tuple[float | None, str | None]:
        if value is None:
            return None, None
        try:
            limit = float(value)
        except (TypeError, ValueError):
            return None, f"{name} must be a number, got {value!r}"
        if not 0.0 < limit < 1.0:
            return None, f"{name} must be strictly between 0 and 1"
        return limit, None

    @staticmethod
    def _positive(value: Any, name: str) -> tuple[float, str | None]:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return 0.0, f"{name} must be a number, got {value!r}"
        if not math.isfinite(number) or number <= 0:
            return 0.0, f"{name} must be a positive number"
        return number, None

    @staticmethod
    def _unfilled(market: Market, outcome: str, where: str, cash: float) -> TradeOutcome:
        """An order whose limit the price had already passed: answered, not traded."""
        return TradeOutcome(
            False,
            f"{outcome} price {market.price(outcome):.4f} is already {where}",
            cash=cash,
            price_yes=market.price("yes"),
            unfilled=True,
        )

    def _order(
        self, side: _Side, agent: int, market_id: Any, outcome: Any, size: Any, limit: Any
    ) -> _Order | TradeOutcome:
        """The order checked: its size capped by what the agent has (cash to spend, shares to sell) and by
        where the price reaches `limit`; else the failed outcome saying why it cannot trade."""
        m, o, err = self._lookup(market_id, outcome)
        if not err:
            size, err = self._positive(size, side.size)
        if err:
            return TradeOutcome(False, err)
        cash = float(self.cash[agent])
        has = cash if side.buying else float(self.holdings[m, agent, o])
        if size > has + EPS:
            return TradeOutcome(False, side.too_large.format(size=size, has=has, outcome=outcome), cash=cash)
        size = min(size, has)
        market = self.markets[m]
        price, err = self._limit(limit, side.limit)
        if err:
            return TradeOutcome(False, err)
        if price is not None:
            reach = market.spend_to_reach if side.buying else market.shares_to_reach
            size = min(size, reach(outcome, price))
            if size <= EPS:
                return self._unfilled(market, outcome, f"{side.passed} {side.limit} {price:.4f}", cash)
        return _Order(m, o, market, size)

    def buy(
        self, agent: int, market_id: Any, outcome: Any, amount: Any, max_price: Any = None
    ) -> TradeOutcome:
        """Spend up to `amount` cash on `outcome` shares, stopping where its price reaches `max_price`.

        Fails (never raises) on bad input, insufficient cash, or a price already at the limit.
        """
        order = self._order(_BUY, agent, market_id, outcome, amount, max_price)
        if isinstance(order, TradeOutcome):
            return order
        m, o, market, amount = order
        shares = market.shares_for(outcome, amount)
        market._move(outcome, shares)
        self.holdings[m, agent, o] += shares
        self.cash[agent] -= amount
        return TradeOutcome(
            True, shares=shares, cost=amount, price_yes=market.price("yes"), cash=float(self.cash[agent])
        )

    def sell(
        self, agent: int, market_id: Any, outcome: Any, shares: Any, min_price: Any = None
    ) -> TradeOutcome:
        """Sell up to `shares` of `outcome` (at most what is held), stopping where its price falls to `min_price`."""
        order = self._order(_SELL, agent, market_id, outcome, shares, min_price)
        if isinstance(order, TradeOutcome):
            return order
        m, o, market, shares = order
        proceeds = market.proceeds_for(outcome, shares)
        market._move(outcome, -shares)
        self.holdings[m, agent, o] -= shares
        self.cash[agent] += proceeds
        return TradeOutcome(
            True, shares=shares, cost=-proceeds, price_yes=market.price("yes"), cash=float(self.cash[agent])
        )

    def arbitrage(self, short: int, long: int, tol: float = 1e-9) -> list[ArbitrageFill]:
        """Restore P(short) <= P(long) for a market nested in another ("within 15 days" inside
        "within 30 days"); returns the two fills, or nothing when the prices are already ordered.

        The house arbitrageur buys x NO shares of `short` and x YES shares of `long`, with x chosen
        so that both YES prices meet: in LMSR logit(p) = (q_yes - q_no)/b, so
        x = (logit p_short - logit p_long) / (1/b_short + 1/b_long). The position pays at least x
        in every outcome (if the event happens early, the long YES pays; if not, the short NO does)
        and costs less than x, so it never loses; exact accounting holds with its cash counted in.
        """
        s, lg = self.markets[short], self.markets[long]
        gap = (s.q_yes - s.q_no) / s.b - (lg.q_yes - lg.q_no) / lg.b
        if gap <= tol:
            return []
        x = gap / (1.0 / s.b + 1.0 / lg.b)
        fills: list[ArbitrageFill] = []
        for idx, market, outcome in ((short, s, "no"), (long, lg, "yes")):
            before = market.cost_function()
            market._move(outcome, x)
            cost = market.cost_function() - before
            self.arb_cash -= cost
            self.arb_holdings[idx, 0 if outcome == "yes" else 1] += x
            fills.append(ArbitrageFill(idx, outcome, x, cost, market.price("yes")))
        return fills

    def state(self) -> dict[str, Any]:
        """What `World.state` saves beside cash and holdings (the arbitrageur's account)."""
        return {"arb_cash": self.arb_cash, "arb_holdings": self.arb_holdings}

    def restore(self, s: dict[str, Any] | None) -> None:
        if s:
            self.arb_cash = float(s["arb_cash"])
            self.arb_holdings = np.asarray(s["arb_holdings"], dtype=float).reshape(len(self.markets), 2)


# The population at which one agent's budget sets the liquidity; larger crowds get deeper markets.
REFERENCE_AGENTS = 10


def crowd_liquidity(budget: float, initial_price_yes: float, agents: int) -> float:
    """`b` for a market traded by `agents`: never thinner than `liquidity_for` (one agent's whole
    budget cannot push a fresh market past ~0.9), and deeper by sqrt(agents / 10) for larger crowds.

    Agents decide on the price at the start of the round and trade one after another; with the
    single-agent depth the first few traders of a round would take the price all the way to their
    own beliefs. sqrt scaling keeps a crowd's net flow, not each trader alone, in charge of the price.
    """
    return liquidity_for(budget, initial_price_yes) * max(1.0, math.sqrt(agents / REFERENCE_AGENTS))


def build_markets(
    specs: list[MarketSpec], budget: float = STARTING_CASH, agents: int = REFERENCE_AGENTS
) -> list[Market]:
    """Markets from specs, in order, with ids unique among them, as deep as the crowd needs."""
    taken: set[str] = set()
    return [
        Market(
            market_id_for(s.question, taken),
            s.question,
            s.initial_price_yes,
            crowd_liquidity(budget, s.initial_price_yes, agents),
        )
        for s in specs
    ]
