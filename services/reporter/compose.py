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
from services.reporter import explain as ex
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
    written_by: str = "computed"  # or the model id of an LLM-written report (llm_report.py)

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
    """Four findings that explain the forecast: who moved the price, which claims carried the
    debate, when it turned, and who resisted (each left out when the run has nothing to show)."""
    out = [
        f
        for f in (_driver_finding(art, names), _claim_finding(art), _turn_finding(art), _holdout_finding(art))
        if f is not None
    ]
    if len(out) < 4:
        out.append(_belief_finding(art, names))
    return out[:4]


def _driver_finding(art: RunArtifacts, names: dict[str, str]) -> Finding | None:
    curve = an.primary_curve(art)
    if curve is None:
        return None
    flows = [f for f in ex.price_flows(art, curve.market_id) if f.biggest is not None and abs(f.net) > 1e-6]
    if not flows:
        return None
    sh = ex.stakeholders(art)
    lead = flows[0]
    days, rounds = art.forecast_days, art.rounds
    when = _week_of(lead.peak_round(), rounds, days)
    text = (
        f"{sh.name(lead.entity_id)}'s agents moved “{_clip(curve.question, 80)}” {lead.net:+.2f} over "
        f"{_n(lead.trades, 'trade')}, pushing hardest in {when}"
    )
    assert lead.biggest is not None
    cites = [Citation("trade", lead.biggest.trade.trade_id)]
    against = next((f for f in flows[1:] if f.net * lead.net < 0), None)
    if against is not None and against.biggest is not None:
        text += (
            f"; {sh.name(against.entity_id)} pushed back {against.net:+.2f} over "
            f"{_n(against.trades, 'trade')}"
        )
        cites.append(Citation("trade", against.biggest.trade.trade_id))
    t = lead.biggest.trade
    who = names.get(an.resolve_agent(t.agent, names), t.agent)
    text += (
        f". Its largest single move was {who} {'buying' if t.side == 'buy' else 'selling'} {t.outcome.upper()} "
        f"in round {t.round} ({lead.biggest.before:.3f} to {lead.biggest.after:.3f})"
    )
    return Finding("Who moved the price", text + ".", cites)


def _claim_finding(art: RunArtifacts) -> Finding | None:
    weights = [w for w in ex.claim_weights(art) if w.claim.label != "neutral"]
    if not weights:
        return None
    top = weights[0]
    c = top.claim
    side = "YES" if c.stance > 0 else "NO"
    text = (
        f"“{_clip(c.text, 120)}” ({c.source}, for {side}) was argued in {_n(len(top.posts), 'post')} by "
        f"{_n(len(top.authors), 'agent')} and drew {_n(top.engagement, 'reaction')}, "
        f"first in {_week_of(top.first_round, art.rounds, art.forecast_days)}"
    )
    cites = [Citation("post", top.lead_post.post_id)]
    answer = next((w for w in weights[1:] if w.claim.stance * c.stance < 0), None)
    if answer is not None:
        text += (
            f"; the answer that carried furthest was “{_clip(answer.claim.text, 100)}” "
            f"({answer.claim.source}, {_n(len(answer.posts), 'post')}, {_n(answer.engagement, 'reaction')})"
        )
        cites.append(Citation("post", answer.lead_post.post_id))
    return Finding("The claims that carried the debate", text + ".", cites)


def _turn_finding(art: RunArtifacts) -> Finding | None:
    curve = an.primary_curve(art)
    rm = an.biggest_round_move(curve, art) if curve is not None else None
    if curve is None or rm is None or abs(rm.delta) < 1e-6:
        return None
    day = an.round_day(rm.round, art.rounds, art.forecast_days)
    text = (
        f"“{_clip(curve.question, 80)}” moved most in round {rm.round} (day {day:.0f}, "
        f"{_week_of(rm.round, art.rounds, art.forecast_days)}): {rm.before:.2f} to {rm.after:.2f}"
    )
    cites = [Citation("curve", curve.market_id, rm.round)]
    news = ex.arrivals(art, range(max(1, rm.round - 1), rm.round + 1))
    if news:
        text += f", as “{_clip(news[0].text, 110)}” ({news[0].source}) reached the agents"
    lead = an.top_posts(art, 1, range(max(1, rm.round - 1), rm.round + 1))
    if lead and an.engagement(lead[0]) > 0:
        text += f"; the most engaged post then read “{_clip(lead[0].text, 100)}”"
        cites.append(Citation("post", lead[0].post_id))
    return Finding("When it turned", text + ".", cites)


def _holdout_finding(art: RunArtifacts) -> Finding | None:
    curve = an.primary_curve(art)
    if curve is None:
        return None
    close = an.closing_price(curve)
    holdouts = ex.holdouts(art, close)
    if not holdouts:
        return None
    h = holdouts[0]
    sh = ex.stakeholders(art)
    moved = h.end - h.start
    text = (
        f"{sh.name(h.entity_id)} ({_n(len(h.agents), 'agent')}) held {h.side} to the end (mean position "
        f"{_fmt_pos(h.start)} to {_fmt_pos(h.end)}, {'hardening' if moved * h.end > 0.02 else 'barely moving'}) "
        f"while the market closed at {close:.2f}"
    )
    cites: list[Citation] = []
    post = ex.lead_post_of(art, h.agents)
    if post is not None:
        claim = ex.claims_by_id(art).get(post.claim_id)
        text += f", arguing “{_clip(claim.text if claim else post.text, 110)}”"
        cites.append(Citation("post", post.post_id))
    else:
        cites.append(Citation("curve", curve.market_id, max(p.round for p in curve.points)))
    if len(holdouts) > 1:
        text += "; also against: " + ", ".join(sh.name(o.entity_id) for o in holdouts[1:4])
    return Finding("Who resisted", text + ".", cites)


def _week_of(rnd: int, rounds: int, days: int) -> str:
    day = max(1, int(round(an.round_day(rnd, rounds, days))))
    return f"week {(day - 1) // 7 + 1}"


def _belief_finding(art: RunArtifacts, names: dict[str, str]) -> Finding:
    initial = {p.agent_id: p.initial_position for p in art.profiles}
    final = an.final_positions(art)
    shifts = {a: final[a] - initial.get(a, final[a]) for a in final}
    mean_shift = float(np.mean(list(shifts.values()))) if shifts else 0.0
    mover = max(sorted(shifts), key=lambda a: abs(shifts[a])) if shifts else None
    text = (
        f"The average belief moved {_fmt_pos(mean_shift)} over the run"
        if abs(mean_shift) >= 0.02
        else "The crowd as a whole held its ground"
    )
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
    return Finding("Who changed their mind", text + ".", cites)


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
        flows = [f for f in ex.price_flows(art, c.market_id) if abs(f.net) > 1e-6][:3]
        if flows:
            sh = ex.stakeholders(art)
            lines.append(
                "Moved by: "
                + ", ".join(f"{sh.name(f.entity_id)} {f.net:+.2f} ({_n(f.trades, 'trade')})" for f in flows)
                + "."
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
                    f"({m.before:.3f} to {m.after:.3f}, {m.delta:+.3f}) [{t.trade_id}]"
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
        "mutual follows; each group is named by the stakeholders its members stand for, with the claims "
        "they argued together.\n"
    ]
    for g in coalitions:
        voices = ", ".join(names.get(m, m) for m in g.voices)
        shown = g.stakeholder_names or [e for e, _ in g.entities]
        ents = ", ".join(f"{name} ({n})" for name, (_, n) in zip(shown[:5], g.entities[:5], strict=False))
        more = f" and {len(g.entities) - 5} more" if len(g.entities) > 5 else ""
        claims = (
            "; shared claims: " + "; ".join(f"“{_clip(c, 110)}”" for c in g.shared_claims)
            if g.shared_claims
            else ""
        )
        lines.append(
            f"- **{g.name}**: {_n(len(g.members), 'agent')}, mean position {_fmt_pos(g.mean_position)}; "
            f"stakeholders {ents}{more}{claims}; loudest voices: {voices}."
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
        spread = (
            "narrowed"
            if ph.spread_end < ph.spread_start - 0.02
            else ("widened" if ph.spread_end > ph.spread_start + 0.02 else "held")
        )
        price = f"; the primary market stood at {ph.price_end:.2f}" if ph.price_end is not None else ""
        lead = an.top_posts(art, 1, ph.rounds)
        cite = f" Most engaged post: {Citation('post', lead[0].post_id)}." if lead else ""
        lines.append(
            f"- **{ph.label}**, {_rounds(ph.rounds)}: beliefs moved {direction} "
            f"({_fmt_pos(ph.mean_start)} to {_fmt_pos(ph.mean_end)}), the spread {spread} "
            f"({ph.spread_start:.2f} to {ph.spread_end:.2f}); {ph.yes_share:.0%} YES, {ph.no_share:.0%} NO"
            f"{price}.{cite}{_phase_causes(art, ph)}"
        )
    lines.append(f"\n![Belief distribution over the forecast horizon]({BELIEF_CHART})")
    return "\n".join(lines)


def _phase_causes(art: RunArtifacts, ph: an.Phase) -> str:
    """What entered the world in a phase (later-dated claims) and which stakeholders moved the price then."""
    out = ""
    news = ex.arrivals(art, ph.rounds)
    if news:
        out += " News: " + "; ".join(f"“{_clip(c.text, 90)}” ({c.source})" for c in news[:2]) + "."
    curve = an.primary_curve(art)
    flows = (
        [f for f in ex.price_flows(art, curve.market_id, ph.rounds) if abs(f.net) >= 0.005][:2]
        if curve
        else []
    )
    if flows:
        sh = ex.stakeholders(art)
        out += (
            " The price was moved by "
            + " and ".join(f"{sh.name(f.entity_id)} ({f.net:+.2f})" for f in flows)
            + "."
        )
    return out


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
    ex.describe_coalitions(art, coalitions)
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
