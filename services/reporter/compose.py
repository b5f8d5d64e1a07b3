"""The report computed from the artifacts (docs/report.md, no-LLM path): sections, verdict, markdown.

Pure: `compose_report(artifacts)` takes decoded artifacts and returns a `Report`; no I/O. Citations
are bracketed ids a reader can look up: posts `[post_id]`, trades `[trade_id]`, curves
`[market_id round r]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from services.reporter import analysis as an
from services.reporter.artifacts import RunArtifacts

MARKET_CHART = "market_curves.png"
BELIEF_CHART = "belief_distribution.png"
SECTION_TITLES: tuple[str, ...] = (
    "Executive Summary",
    "Verdict",
    "Key Findings",
    "Coalitions",
    "Market Analysis",
    "Belief Dynamics",
    "Conclusion",
)


@dataclass(frozen=True)
class Citation:
    kind: Literal["post", "trade", "curve"]
    ref: str  # post_id, trade_id or market_id
    round: int | None = None  # curves only

    def __str__(self) -> str:
        return f"[{self.ref} round {self.round}]" if self.kind == "curve" else f"[{self.ref}]"


@dataclass(frozen=True)
class Finding:
    title: str
    text: str
    citations: list[Citation]


@dataclass
class Report:
    title: str
    verdict: str
    summary: str
    sections: dict[str, str]
    findings: list[Finding]
    coalitions: list[an.Coalition]
    phases: list[an.Phase]
    charts: list[str] = field(default_factory=lambda: [MARKET_CHART, BELIEF_CHART])

    def markdown(self) -> str:
        """The whole report as markdown; charts are referenced by their relative file names."""
        parts = [f"# {self.title}\n"]
        for name in SECTION_TITLES:
            parts.append(f"## {name}\n\n{self.sections[name].strip()}\n")
        return "\n".join(parts)


def _fmt_pos(x: float) -> str:
    return f"{x:+.2f}"


def _lean(price: float) -> str:
    if price >= 0.65:
        return "expects YES"
    if price > 0.53:
        return "leans YES"
    if price <= 0.35:
        return "expects NO"
    if price < 0.47:
        return "leans NO"
    return "is undecided"


def _spread_word(spread: float) -> str:
    if spread < 0.2:
        return "in broad consensus"
    if spread < 0.45:
        return "divided"
    return "polarised"


def compose_verdict(art: RunArtifacts) -> str:
    """One sentence: where the primary market closed against 0.5, and how spread the beliefs are."""
    curve = an.primary_curve(art)
    final = np.asarray(list(an.final_positions(art).values()), dtype=float)
    mean, spread = (float(final.mean()), float(final.std())) if final.size else (0.0, 0.0)
    beliefs = f"agents' beliefs are {_spread_word(spread)} (mean {_fmt_pos(mean)}, spread {spread:.2f})"
    if curve is None:
        return f"No market traded; {beliefs}."
    close, open_ = an.closing_price(curve), an.opening_price(curve, art)
    lean = _lean(close)
    market_side = 0 if lean == "is undecided" else (1 if close > 0.5 else -1)
    crowd_side = 0 if abs(mean) <= an.NEUTRAL_BAND else (1 if mean > 0 else -1)
    link = "while" if market_side * crowd_side < 0 else "and"
    return (
        f'The swarm {lean} on "{curve.question}": the market closed at {close:.2f} '
        f"(opened {open_:.2f}), {link} {beliefs}."
    )


def _findings(art: RunArtifacts, names: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    top = an.top_posts(art, 1)
    if top:
        p = top[0]
        who = names.get(an.resolve_agent(p.author, names), p.author)
        out.append(Finding(
            "The most engaged post",
            f'{who} wrote "{_clip(p.text)}" in round {p.round} ({_n(p.likes, "like")}, {_n(p.reposts, "repost")}, '
            f"{_n(p.replies, 'reply', 'replies')}; stance {_fmt_pos(p.stance)}).",
            [Citation("post", p.post_id)],
        ))
    moves = [m for ms in an.trade_moves(art).values() for m in ms]
    if moves:
        m = max(moves, key=lambda m: (abs(m.delta), -m.trade.round))
        t = m.trade
        out.append(Finding(
            "The trade that moved a market most",
            f"{names.get(an.resolve_agent(t.agent, names), t.agent)} {_verb(t.side)} {t.shares:.1f} "
            f"{t.outcome.upper()} shares of {t.market_id} in round {t.round} for {t.cost:.2f}, moving YES "
            f"from {m.before:.2f} to {m.after:.2f}.",
            [Citation("trade", t.trade_id)],
        ))
    round_moves = [rm for c in art.curves if (rm := an.biggest_round_move(c, art)) is not None]
    if round_moves:
        rm = max(round_moves, key=lambda r: (abs(r.delta), -r.round))
        out.append(Finding(
            "The sharpest price swing",
            f"{rm.market_id} moved {rm.delta:+.2f} in round {rm.round} ({rm.before:.2f} to {rm.after:.2f}).",
            [Citation("curve", rm.market_id, rm.round)],
        ))
    out.append(_belief_finding(art, names))
    return out


def _belief_finding(art: RunArtifacts, names: dict[str, str]) -> Finding:
    initial = {p.agent_id: p.initial_position for p in art.profiles}
    final = an.final_positions(art)
    shifts = {a: final[a] - initial.get(a, final[a]) for a in final}
    mean_shift = float(np.mean(list(shifts.values()))) if shifts else 0.0
    mover = max(sorted(shifts), key=lambda a: abs(shifts[a])) if shifts else None
    text = f"The average belief moved {_fmt_pos(mean_shift)} over the run"
    cites: list[Citation] = []
    if mover is not None:
        text += (
            f"; {names.get(mover, mover)} moved most ({_fmt_pos(initial.get(mover, final[mover]))} to "
            f"{_fmt_pos(final[mover])})"
        )
        own = [p for p in art.posts if an.resolve_agent(p.author, names) == mover]
        if own:
            best = max(own, key=lambda p: (an.engagement(p), -p.round))
            text += f', and their most engaged post read "{_clip(best.text)}"'
            cites.append(Citation("post", best.post_id))
    curve = an.primary_curve(art)
    if not cites and curve is not None and curve.points:
        last = max(p.round for p in curve.points)
        text += f"; the primary market ended at {an.closing_price(curve):.2f}"
        cites.append(Citation("curve", curve.market_id, last))
    return Finding("Belief shift", text + ".", cites)


def _rounds(r: range) -> str:
    return f"round {r.start}" if len(r) == 1 else f"rounds {r.start}-{r.stop - 1}"


def _verb(side: str) -> str:
    return "bought" if side == "buy" else "sold"


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _clip(text: str, n: int = 140) -> str:
    flat = " ".join(text.split()).replace('"', "'")
    return flat if len(flat) <= n else flat[: n - 1].rstrip() + "…"


def _market_section(art: RunArtifacts, names: dict[str, str]) -> str:
    if not art.curves:
        return "No markets were traded."
    moves = an.trade_moves(art)
    lines: list[str] = []
    for c in art.curves:
        open_, close = an.opening_price(c, art), an.closing_price(c)
        prices = [p.price_yes for p in c.points] or [open_]
        volume = sum(p.volume for p in c.points)
        ms = moves.get(c.market_id, [])
        lines.append(f"### {c.question}\n")
        lines.append(
            f"`{c.market_id}` opened at {open_:.2f} and closed at {close:.2f} ({close - open_:+.2f}); "
            f"range {min(prices):.2f}-{max(prices):.2f}, volume {volume:.1f}, {_n(len(ms), 'trade')}."
        )
        rm = an.biggest_round_move(c, art)
        if rm is not None and abs(rm.delta) > 0:
            lines.append(
                f"Its largest move was in round {rm.round}: {rm.before:.2f} to {rm.after:.2f} "
                f"{Citation('curve', c.market_id, rm.round)}."
            )
        biggest = sorted(ms, key=lambda m: (-abs(m.delta), m.trade.round, m.trade.trade_id))[:3]
        if biggest:
            lines.append("\nThe trades that moved it most:\n")
            for m in biggest:
                t = m.trade
                who = names.get(an.resolve_agent(t.agent, names), t.agent)
                lines.append(
                    f"- {who} {_verb(t.side)} {t.shares:.1f} {t.outcome.upper()} in round {t.round} "
                    f"({m.before:.2f} to {m.after:.2f}, {m.delta:+.2f}) [{t.trade_id}]"
                )
        lines.append("")
    lines.append(f"![Market prices over the forecast horizon]({MARKET_CHART})")
    return "\n".join(lines)


def _coalition_section(coalitions: list[an.Coalition], names: dict[str, str]) -> str:
    if not coalitions:
        return "No agents to group."
    lines = [
        "Agents are grouped by the side of their final belief (YES above "
        f"+{an.NEUTRAL_BAND:.1f}, NO below -{an.NEUTRAL_BAND:.1f}) and, within a side, by connected "
        "mutual follows; each group is named by the words most distinctive of its posts.\n"
    ]
    for g in coalitions:
        voices = ", ".join(names.get(m, m) for m in g.voices)
        ents = ", ".join(f"{e} ({n})" for e, n in g.entities[:5])
        more = f" and {len(g.entities) - 5} more" if len(g.entities) > 5 else ""
        lines.append(
            f"- **{g.name}**: {_n(len(g.members), 'agent')}, mean position {_fmt_pos(g.mean_position)}; "
            f"stakeholders {ents}{more}; loudest voices: {voices}."
        )
    return "\n".join(lines)


def _phase_section(art: RunArtifacts, phases: list[an.Phase]) -> str:
    lines = [
        f"The {art.rounds} rounds stand for the {art.forecast_days}-day forecast horizon "
        f"(one round = {art.forecast_days / art.rounds:.1f} days).\n"
    ]
    for ph in phases:
        drift = ph.mean_end - ph.mean_start
        direction = "toward YES" if drift > 0.02 else "toward NO" if drift < -0.02 else "little"
        spread = "narrowed" if ph.spread_end < ph.spread_start - 0.02 else (
            "widened" if ph.spread_end > ph.spread_start + 0.02 else "held")
        price = f"; the primary market stood at {ph.price_end:.2f}" if ph.price_end is not None else ""
        lead = an.top_posts(art, 1, ph.rounds)
        cite = f" Most engaged post: {Citation('post', lead[0].post_id)}." if lead else ""
        lines.append(
            f"- **{ph.label}**, {_rounds(ph.rounds)}: beliefs moved {direction} "
            f"({_fmt_pos(ph.mean_start)} to {_fmt_pos(ph.mean_end)}), the spread {spread} "
            f"({ph.spread_start:.2f} to {ph.spread_end:.2f}); {ph.yes_share:.0%} YES, {ph.no_share:.0%} NO"
            f"{price}.{cite}"
        )
    lines.append(f"\n![Belief distribution over the forecast horizon]({BELIEF_CHART})")
    return "\n".join(lines)


def _summary(art: RunArtifacts, verdict: str, coalitions: list[an.Coalition]) -> str:
    n_agents = len(an.final_positions(art))
    replies = sum(1 for p in art.posts if p.parent_id)
    trades = sum(1 for t in art.trades if t.success)
    policy = art.manifest.policy + (f" ({art.manifest.model})" if art.manifest.model else "")
    text = (
        f'{n_agents} agents debated "{art.goal}" over {art.rounds} rounds standing for a '
        f"{art.forecast_days}-day horizon, with the {policy} policy. They wrote {len(art.posts) - replies} "
        f"posts and {replies} replies and made {trades} trades in {len(art.curves)} market(s). {verdict}"
    )
    cohesive = [g for g in coalitions if g.cohesive]
    if cohesive:
        text += f" The largest coalition is the {cohesive[0].name} with {len(cohesive[0].members)} agents."
    return text


def _conclusion(art: RunArtifacts, verdict: str, phases: list[an.Phase]) -> str:
    text = verdict
    if phases:
        last = phases[-1]
        text += (
            f" By the end of the horizon ({last.weeks}) {last.yes_share:.0%} of agents held YES and "
            f"{last.no_share:.0%} NO."
        )
    return text + (
        f" This is a simulation of {art.manifest.policy}-policy agents (random seed "
        f"{art.manifest.random_seed}); read it as a map of arguments and incentives, not a forecast."
    )


def compose_report(art: RunArtifacts) -> Report:
    """Compute every section of the report from the decoded artifacts."""
    names = an.agent_names(art)
    coalitions = an.find_coalitions(art)
    phases = an.belief_phases(art)
    verdict = compose_verdict(art)
    findings = _findings(art, names)
    summary = _summary(art, verdict, coalitions)
    findings_md = "\n".join(
        f"{i}. **{f.title}.** {f.text} {' '.join(str(c) for c in f.citations)}".rstrip()
        for i, f in enumerate(findings, 1)
    )
    sections = {
        "Executive Summary": summary,
        "Verdict": verdict,
        "Key Findings": findings_md,
        "Coalitions": _coalition_section(coalitions, names),
        "Market Analysis": _market_section(art, names),
        "Belief Dynamics": _phase_section(art, phases),
        "Conclusion": _conclusion(art, verdict, phases),
    }
    title = f"SimSwarm report: {art.goal}" if art.goal else "SimSwarm report"
    return Report(title, verdict, summary, sections, findings, coalitions, phases)
