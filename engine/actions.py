"""Applying a round's actions to the world, agent after agent in a random order, validating every one
(docs/engine.md §3–4).

A bad action (unknown type, malformed or missing args, a post or market that does not exist, a
second vote, buying past one's cash, selling more than held) becomes a failed entry in the chat log
and in the agent's `last_results`; it never raises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from contracts.artifacts import ChatLogEntry, Trade
from engine.market import ARBITRAGEUR
from engine.policies.base import ACTION_TYPES, MARKET_ACTIONS, Action, ActionResult
from engine.recorder import INTERACTIONS, TOTAL_KEYS
from engine.world import World

MAX_ACTIONS_PER_ROUND = 8
_COUNTED = {
    "create_post": "posts",
    "reply": "replies",
    "vote": "votes",
    "repost": "reposts",
    "follow": "follows",
    "comment_on_market": "market_comments",
}


class _Fail(Exception):
    """Internal: an action that cannot apply; its message goes to the chat log."""


def _arg(args: dict[str, Any], key: str) -> Any:
    if key not in args:
        raise _Fail(f"missing argument {key!r}")
    return args[key]


def _as_action(raw: Any) -> Action:
    if isinstance(raw, Action):
        return raw
    if isinstance(raw, dict):
        return Action(type=str(raw.get("type", "")), args=raw.get("args") or {})
    return Action(type=repr(raw)[:40], args={})


class RoundApplier:
    """Applies the decisions of one round; collects the round's counters."""

    def __init__(self, world: World, rnd: int) -> None:
        self.w, self.rnd = world, rnd
        n, m = world.n, len(world.book.markets)
        self.stats: dict[str, Any] = {
            k: 0 for k in ("posts", "replies", "votes", "reposts", "follows", "trades")
        }
        self.stats.update(
            likes_received=np.zeros(n),
            dislikes_received=np.zeros(n),
            volume=np.zeros(m),
            agent_posts=np.zeros(n, dtype=np.int32),
            agent_actions=np.zeros(n, dtype=np.int32),
        )
        self.chat: list[ChatLogEntry] = []

    def _post(self, args: dict[str, Any]) -> int:
        idx = self.w.platform.post_index(_arg(args, "post_id"))
        if idx < 0:
            raise _Fail(f"unknown post_id {args.get('post_id')!r}")
        return idx

    def _text(self, args: dict[str, Any]) -> str:
        text = _arg(args, "text")
        err = self.w.platform.check_text(text)
        if err:
            raise _Fail(err)
        return str(text)

    def _interact(self, kind: str, agent: int, other: int) -> None:
        ent = self.w.pop.entity_index
        self.w.recorder.interactions[INTERACTIONS.index(kind), ent[agent], ent[other]] += 1

    def _social(self, agent: int, kind: str, args: dict[str, Any]) -> dict[str, Any] | None:
        w, plat, rnd = self.w, self.w.platform, self.rnd
        if kind == "do_nothing":
            return None
        if kind == "create_post":
            text = self._text(args)
            stance, claim = w.post_stance(agent, args, text)
            idx = plat.create_post(agent, rnd, text, stance, claim)
            self.stats["agent_posts"][agent] += 1
            return {"post_id": w.post_id(idx)}
        if kind == "follow":
            agent_id = _arg(args, "agent_id")
            target = w.pop.id_index.get(agent_id) if isinstance(agent_id, str) else None
            if target is None:
                raise _Fail(f"unknown agent_id {agent_id!r}")
            err = plat.follow(agent, target, rnd)
            if err:
                raise _Fail(err)
            self._interact("follows", agent, target)
            return {"following": w.pop.ids[target]}
        post = self._post(args)
        author = int(plat.cols["author"][post])
        if kind == "reply":
            text = self._text(args)
            stance, claim = w.post_stance(agent, args, text)
            idx = plat.reply(agent, rnd, post, text, stance, claim)
            self.stats["agent_posts"][agent] += 1
            self._interact("replies", agent, author)
            return {"post_id": w.post_id(idx), "parent_id": w.post_id(post)}
        if kind == "vote":
            value = _arg(args, "value")
            if isinstance(value, str) and value.strip() in ("1", "+1", "-1"):
                value = int(value.strip())
            elif isinstance(value, float) and value in (1.0, -1.0):
                value = int(value)
            err = plat.vote(agent, post, value)
            if err:
                raise _Fail(err)
            self.stats["likes_received" if value == 1 else "dislikes_received"][author] += 1
            self.w.recorder.total("likes_received" if value == 1 else "dislikes_received")[author] += 1
            self._interact("upvotes" if value == 1 else "downvotes", agent, author)
            return {
                "post_id": w.post_id(post),
                "likes": int(plat.cols["likes"][post]),
                "dislikes": int(plat.cols["dislikes"][post]),
            }
        if kind == "repost":
            err = plat.repost(agent, post)
            if err:
                raise _Fail(err)
            self._interact("reposts", agent, author)
            return {"post_id": w.post_id(post), "reposts": int(plat.cols["reposts"][post])}
        raise _Fail(f"unknown action type {kind!r}")

    def _market(self, agent: int, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        w, book = self.w, self.w.book
        market_id = _arg(args, "market_id")
        if kind == "comment_on_market":
            if not isinstance(market_id, str) or market_id not in book.index:
                raise _Fail(f"unknown market_id {market_id!r}")
            self._text(args)
            return {
                "market_id": market_id,
                "price_yes": round(book.markets[book.index[market_id]].price(), 6),
            }
        outcome = _arg(args, "outcome")
        outcome = outcome.strip().lower() if isinstance(outcome, str) else outcome
        if kind == "buy":
            res = book.buy(agent, market_id, outcome, _arg(args, "amount"), args.get("max_price"))
        else:
            res = book.sell(agent, market_id, outcome, _arg(args, "shares"), args.get("min_price"))
        if res.unfilled:
            # A valid limit order the price had already passed when the trader's turn came (traders
            # act one after another): not a trade and not an error; the agent sees why.
            return {"filled": False, "reason": res.error, "price_yes": round(res.price_yes, 6)}
        known = isinstance(market_id, str) and market_id in book.index
        rec = w.recorder
        rec.trades.append(
            Trade(
                trade_id=f"t{len(rec.trades) + 1}",
                round=self.rnd,
                agent=w.pop.ids[agent],
                market_id=str(market_id)[:80],
                side="buy" if kind == "buy" else "sell",
                outcome="no" if outcome == "no" else "yes",
                shares=round(res.shares, 6),
                cost=round(res.cost, 6),
                price_after=round(book.markets[book.index[market_id]].price(), 6) if known else 0.0,
                success=res.ok,
                error=res.error,
            )
        )
        if not res.ok:
            raise _Fail(res.error or "trade failed")
        self.stats["trades"] += 1
        w.recorder.total("trades")[agent] += 1
        self.stats["volume"][book.index[market_id]] += abs(res.cost)
        trade_id = rec.trades[-1].trade_id
        self._keep_coherent()
        return {
            "trade_id": trade_id,
            "shares": round(res.shares, 6),
            "cost": round(res.cost, 6),
            "price_yes": round(res.price_yes, 6),
            "cash": round(res.cash, 6),
        }

    def _keep_coherent(self) -> None:
        """After a trade, arbitrage nested markets back into order (engine/coherence.py); each fill
        is a trade of the house arbitrageur in trades.json."""
        w, book, rec = self.w, self.w.book, self.w.recorder
        pairs = w.nested_pairs
        for _ in range(len(pairs) + 1):
            moved = False
            for short, long in pairs:
                for fill in book.arbitrage(short, long):
                    moved = True
                    market = book.markets[fill.market]
                    rec.trades.append(
                        Trade(
                            trade_id=f"t{len(rec.trades) + 1}",
                            round=self.rnd,
                            agent=ARBITRAGEUR,
                            market_id=market.market_id,
                            side="buy",
                            outcome="yes" if fill.outcome == "yes" else "no",
                            shares=round(fill.shares, 6),
                            cost=round(fill.cost, 6),
                            price_after=round(fill.price_yes, 6),
                            success=True,
                            error=None,
                        )
                    )
                    self.stats["volume"][fill.market] += abs(fill.cost)
            if not moved:
                return

    def apply_agent(self, agent: int, actions: list[Any]) -> None:
        w = self.w
        results: list[ActionResult] = []
        totals = w.recorder.totals
        for n_done, raw in enumerate(actions):
            action = _as_action(raw)
            kind = action.type
            args = action.args if isinstance(action.args, dict) else {}
            success, result, error = True, None, None
            try:
                if n_done >= MAX_ACTIONS_PER_ROUND:
                    raise _Fail(f"at most {MAX_ACTIONS_PER_ROUND} actions per round")
                if not isinstance(action.args, dict):
                    raise _Fail("args must be an object")
                if kind not in ACTION_TYPES:
                    raise _Fail(f"unknown action type {kind!r}; expected one of {', '.join(ACTION_TYPES)}")
                if kind in MARKET_ACTIONS:
                    result = self._market(agent, kind, args)
                else:
                    result = self._social(agent, kind, args)
            except _Fail as exc:
                success, error = False, str(exc)
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
                success, error = False, f"invalid arguments: {exc}"
            if isinstance(action.args, dict) and "probability" in action.args:
                w.declare(agent, action.args.get("probability"))  # the LLM's stated belief (docs/engine.md)
            if success and kind in _COUNTED:
                key = _COUNTED[kind]
                totals[agent, TOTAL_KEYS.index(key)] += 1
                if key in self.stats:
                    self.stats[key] += 1
            totals[agent, 0] += 1
            if not success:
                totals[agent, 1] += 1
            self.stats["agent_actions"][agent] += 1
            self.chat.append(
                ChatLogEntry(
                    round=self.rnd,
                    agent_id=w.pop.ids[agent],
                    agent_name=w.pop.names[agent],
                    action_type=kind[:40],
                    platform="market" if kind in MARKET_ACTIONS else "social",
                    args=args,
                    result=result if success else {"error": error},
                    success=success,
                )
            )
            results.append(
                ActionResult(
                    round=self.rnd, action=kind[:40], args=args, success=success, result=result, error=error
                )
            )
        w.last_results[agent] = results


def apply_round(world: World, rnd: int, active: np.ndarray, decisions: list[list[Any]]) -> dict[str, Any]:
    """Apply every active agent's actions, one agent after another in a random order drawn from
    (random_seed, round): a trader meets the price the traders before it left, never the round's
    opening price for everyone, and no agent index comes first by construction. Returns the
    round's counters."""
    applier = RoundApplier(world, rnd)
    order = np.random.default_rng([world.seed, rnd, 37]).permutation(len(active))
    agents = active.tolist()
    for k in order.tolist():
        agent = agents[k]
        acts = decisions[k] if k < len(decisions) and decisions[k] else []
        if not isinstance(acts, list):
            acts = [acts]
        applier.apply_agent(agent, acts)
    world.recorder.add_chat(applier.chat)
    return applier.stats
