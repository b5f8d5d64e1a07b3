"""Prompts for one agent turn, laid out for prefix caching.

Order matters: vLLM reuses the KV cache of the longest byte-identical prefix. So every request of a
run starts with the same system prompt (instructions, question, seed excerpt, market list) and the
same tool schemas; the user message then opens with a round header that is identical for every
agent of the round (round, day, prices), and only after it comes the agent's own part (persona,
beliefs in words, its last actions with their results, cash and holdings, its feed).
"""

from __future__ import annotations

import bisect
import json
from typing import Any

from engine.llm.config import LLMConfig
from engine.policies.base import ActionResult, FeedPost, MarketView, Observation

AGENT_MARKER = "## You"  # where the agent-specific part of the user message begins


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _compact(value: Any, limit: int = 200) -> str:
    return _cut(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str), limit)


def _band(value: float, bounds: tuple[float, ...], words: tuple[str, ...]) -> str:
    """The word for `value`: words[i] below bounds[i], the last word at or above every bound."""
    return words[bisect.bisect_right(bounds, value)]


def describe_position(position: float) -> str:
    """A belief position in [-1, 1] in words."""
    words = ("undecided", "leaning slightly towards {}", "leaning towards {}", "firmly expecting {}")
    return _band(abs(position), (0.15, 0.4, 0.7), words).format("YES" if position > 0 else "NO")


def describe_confidence(confidence: float) -> str:
    return _band(confidence, (0.3, 0.6), ("unsure of yourself", "fairly confident", "very confident"))


def _level(value: float) -> str:
    return _band(value, (0.34, 0.67), ("low", "medium", "high"))


class PromptBuilder:
    """Builds the messages of an agent turn; the system prompt is built once per run."""

    def __init__(self, config: LLMConfig, seed_text: str, goal: str, forecast_days: int) -> None:
        self.config = config
        self.seed_text = seed_text
        self.goal = " ".join(goal.split())
        self.forecast_days = forecast_days
        self._system: str | None = None
        self._system_markets: tuple[str, ...] = ()

    def system_prompt(self, markets: list[MarketView]) -> str:
        """Instructions and the shared world: byte-identical for every agent and round of a run."""
        key = tuple(f"{m.market_id}\x00{m.question}" for m in markets)
        if self._system is not None and key == self._system_markets:
            return self._system
        market_lines = "\n".join(f"- market_id={m.market_id}: {m.question}" for m in markets) or "- (none)"
        seed = self.seed_text.strip()
        if len(seed) > self.config.seed_chars:
            seed = seed[: self.config.seed_chars].rstrip() + " […]"
        self._system = (
            "You role-play one participant in a simulated public debate and prediction market. "
            "Many participants act at once; each turn you see your own situation and your feed, and you "
            "act by calling tools. Stay in character: write in your persona's voice, argue from your "
            "beliefs, react to what you read. Refer to posts by their post_id and to people by their "
            "agent_id, exactly as shown. Posts and replies are at most 280 characters. In the markets a "
            "YES share pays 1 if the question resolves YES, else 0; the price is the market's "
            "probability of YES. Buy when you think the price is too low for an outcome, sell what you "
            "hold when you think it is too high; you cannot spend more cash than you have. "
            "With every tool call give `probability`: your own probability, now, that the question resolves "
            "YES; it is your belief, so change it only when what you read gives you a reason. When you post "
            "or reply about a claim from 'What you know', pass its claim_id. "
            f"Call between one and {self.config.max_actions_per_turn} tools per turn; "
            "call do_nothing if nothing is worth doing.\n\n"
            f"# The question\n{self.goal}\nForecast horizon: {self.forecast_days} days.\n\n"
            f"# Markets\n{market_lines}\n\n# Background\n{seed}"
        )
        self._system_markets = key
        return self._system

    def round_header(self, obs: Observation) -> str:
        """Identical for every agent of a round: round, day and market prices."""
        day = max(1, round(obs.round * self.forecast_days / max(1, obs.rounds)))
        prices = "; ".join(f"{m.market_id} YES {m.price_yes:.3f}" for m in obs.markets) or "none"
        return f"# Round {obs.round} of {obs.rounds} (about day {day} of {self.forecast_days})\nPrices: {prices}\n\n"

    def agent_part(self, obs: Observation) -> str:
        """Everything about this agent: persona, beliefs, last results, money, feed."""
        c = self.config
        lines = [f"{AGENT_MARKER}\nYou are {obs.agent_name} (agent_id={obs.agent_id})."]
        if obs.entity_name and obs.entity_name != obs.agent_name:
            lines.append(f"You speak for or belong to: {obs.entity_name}.")
        lines.append(f"Persona: {_cut(obs.persona, 600)}")
        if obs.traits:
            lines.append(
                "Temperament: "
                + ", ".join(f"{k.replace('_', ' ')} {_level(v)}" for k, v in sorted(obs.traits.items()))
                + "."
            )
        lines.append(
            f"Your view: you are {describe_position(obs.position)} (about "
            f"{round(50 * (1 + obs.position))}% YES) and {describe_confidence(obs.confidence)}."
        )
        if obs.claims:
            lines.append("\n## What you know")
            strongest = sorted(obs.claims, key=lambda c: (-abs(c.stance), c.claim_id))[: c.known_claims]
            lines.extend(
                f"- [claim_id={k.claim_id}] {k.source}: {_cut(k.text, c.text_chars)} "
                f"(points {'to YES' if k.stance > 0.05 else 'to NO' if k.stance < -0.05 else 'nowhere'})"
                for k in sorted(
                    strongest, key=lambda k: int(k.claim_id[1:]) if k.claim_id[1:].isdigit() else 0
                )
            )
        holdings = [
            f"{m.market_id}: {m.yes_shares:.2f} YES, {m.no_shares:.2f} NO shares"
            for m in obs.markets
            if m.yes_shares or m.no_shares
        ]
        lines.append(f"Cash: {obs.cash:.2f}. Holdings: {'; '.join(holdings) if holdings else 'none'}.")
        if obs.following:
            shown = ", ".join(obs.following[:20]) + (" …" if len(obs.following) > 20 else "")
            lines.append(f"You follow: {shown}.")
        if obs.last_results:
            lines.append("\n## Your last actions and what they returned")
            lines.extend(self._result_line(r) for r in obs.last_results[-c.last_results :])
        if obs.events:
            lines.append("\n## Everyone is talking about")
            lines.extend(
                f"- [post_id={e.post_id} author_id={e.author_id}] {e.author_name}: "
                f"{_cut(e.text, c.text_chars)}"
                for e in obs.events[-3:]
            )
        lines.append("\n## Your feed")
        if obs.feed:
            lines.extend(self._post_lines(p) for p in obs.feed[: c.feed_posts])
        else:
            lines.append("(empty: nobody has posted yet)")
        lines.append("\nWhat do you do this round? Act by calling tools.")
        return "\n".join(lines)

    def _result_line(self, r: ActionResult) -> str:
        outcome = (
            f"ok {_compact(r.result)}" if r.success else f"FAILED: {_cut(r.error or 'no reason given', 160)}"
        )
        return f"- round {r.round}: {r.action} {_compact(r.args, 160)} -> {outcome}"

    def _post_lines(self, p: FeedPost) -> str:
        c = self.config
        notes = [f"round {p.round}", f"+{p.likes}/-{p.dislikes}"]
        if p.reposts:
            notes.append(f"{p.reposts} reposts")
        if p.reply_count:
            notes.append(f"{p.reply_count} replies")
        if p.followed:
            notes.append("you follow the author")
        if p.my_vote:
            notes.append("you liked it" if p.my_vote > 0 else "you disliked it")
        out = [
            f"- [post_id={p.post_id} author_id={p.author_id}] {p.author_name} ({', '.join(notes)}): "
            f"{_cut(p.text, c.text_chars)}"
        ]
        for r in p.replies[: c.replies_per_post]:
            out.append(
                f"    ↳ [post_id={r.post_id} author_id={r.author_id}] {r.author_name} "
                f"(+{r.likes}/-{r.dislikes}): {_cut(r.text, c.text_chars)}"
            )
        return "\n".join(out)

    def messages(self, obs: Observation) -> list[dict[str, str]]:
        """The chat messages of one agent turn: [system, user]."""
        return [
            {"role": "system", "content": self.system_prompt(obs.markets)},
            {"role": "user", "content": self.round_header(obs) + self.agent_part(obs)},
        ]
