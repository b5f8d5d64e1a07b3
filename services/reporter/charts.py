"""The report's charts as PNG bytes (matplotlib, Agg canvas): market curves and belief distribution.

Figures are made with the object API (no pyplot), so there is no global state and charts may be drawn
from worker threads.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from services.reporter import analysis as an
from services.reporter.artifacts import RunArtifacts
from services.reporter.compose import BELIEF_CHART, MARKET_CHART


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _phase_lines(ax: Axes, art: RunArtifacts) -> None:
    for ph in an.belief_phases(art)[1:]:
        ax.axvline(ph.first_day - 1, color="grey", linestyle=":", linewidth=0.8)


def market_chart(art: RunArtifacts) -> bytes:
    """YES price of every market against the forecast day each round stands for."""
    fig, ax = _figure()
    days, rounds = art.forecast_days, art.rounds
    for c in art.curves:
        pts = sorted(c.points, key=lambda p: p.round)
        xs = [0.0] + [an.round_day(p.round, rounds, days) for p in pts if p.round > 0]
        ys = [an.opening_price(c, art)] + [p.price_yes for p in pts if p.round > 0]
        label = c.question if len(c.question) <= 60 else c.question[:57] + "..."
        ax.plot(xs, ys, marker="o", markersize=2.5, label=label)
    ax.axhline(0.5, color="black", linewidth=0.6, alpha=0.5)
    _phase_lines(ax, art)
    ax.set_ylim(0, 1)
    ax.set_xlim(0, days)
    ax.set_xlabel(f"forecast day ({rounds} rounds over {days} days)")
    ax.set_ylabel("price of YES")
    ax.set_title("Market prices")
    if art.curves:
        ax.legend(fontsize=7, loc="best")
    return _png(fig)


def belief_chart(art: RunArtifacts) -> bytes:
    """Percentile bands (10-90, 25-75), median and mean of agents' positions per forecast day."""
    fig, ax = _figure()
    by_round = an.positions_by_round(art)
    rounds_ = [r for r, v in by_round.items() if v.size]
    if rounds_:
        xs = np.array([an.round_day(r, art.rounds, art.forecast_days) for r in rounds_])
        pct = np.array([np.percentile(by_round[r], [10, 25, 50, 75, 90]) for r in rounds_])
        mean = np.array([by_round[r].mean() for r in rounds_])
        ax.fill_between(xs, pct[:, 0], pct[:, 4], alpha=0.2, color="tab:blue", label="10-90th pct")
        ax.fill_between(xs, pct[:, 1], pct[:, 3], alpha=0.35, color="tab:blue", label="25-75th pct")
        ax.plot(xs, pct[:, 2], color="tab:blue", label="median")
        ax.plot(xs, mean, color="tab:orange", linestyle="--", label="mean")
        ax.legend(fontsize=7, loc="best")
    ax.axhline(0, color="black", linewidth=0.6, alpha=0.5)
    _phase_lines(ax, art)
    ax.set_ylim(-1, 1)
    ax.set_xlim(0, art.forecast_days)
    ax.set_xlabel("forecast day")
    ax.set_ylabel("belief position (-1 NO, +1 YES)")
    ax.set_title("Belief distribution")
    return _png(fig)


def render_charts(art: RunArtifacts) -> dict[str, bytes]:
    """file name -> PNG bytes, named as report.md references them."""
    return {MARKET_CHART: market_chart(art), BELIEF_CHART: belief_chart(art)}
