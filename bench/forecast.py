"""Forecast benchmark: does the swarm follow the evidence in the seed, not its tone?

Runs every labelled seed of bench/forecast_seeds/ (a question, its negation and the direction the
evidence points) with the heuristic policy, and with the LLM policy when --llm-url is given, and
prints:

* direction accuracy: final P(yes) on the question on the side of 0.5 the label says;
* Brier score of that P against the label;
* negation gap: mean |P(A) + P(not A) - 1| over the two phrasings of each seed;
* correlation of P(A) with a plain sentiment score of the seed (VADER compound);
* distinct-post ratio: distinct post and reply texts / all of them;
* top-5% engagement share: the share of likes + reposts + replies received by the top 5% of agents;
* lag-1 autocorrelation of the price changes of the question's market;
* spread of final beliefs: standard deviation of the agents' final P(yes).

    python -m bench.forecast                     # heuristic, 200 agents x 15 rounds per run
    python -m bench.forecast --agents 500 --rounds 20
    python -m bench.forecast --llm-url http://127.0.0.1:8000/v1 --llm-agents 20 --llm-rounds 5

Prints figures; asserts nothing. See docs/engine.md, "Forecast benchmark", for measured numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.worker import RunSpec  # noqa: E402
from engine import simulate  # noqa: E402

SEEDS_DIR = Path(__file__).resolve().parent / "forecast_seeds"
TARGETS = {
    "direction": ">= 0.85",
    "negation_gap": "<= 0.10",
    "sentiment_corr": "|r| <= 0.3",
    "distinct_posts": ">= 0.60",
    "top5_engagement": "<= 0.25",
    "lag1_autocorr": ">= -0.3",
    "belief_spread": "> 0.05",
}


def load_seeds(directory: Path = SEEDS_DIR) -> list[dict[str, Any]]:
    """The labelled seeds: name, domain, question, negated_question, expected ('yes'|'no'), seed."""
    out = []
    for path in sorted(directory.glob("*.json")):
        item = json.loads(path.read_text(encoding="utf-8"))
        for key in ("question", "negated_question", "expected", "seed"):
            if key not in item:
                raise ValueError(f"{path.name}: missing {key!r}")
        if item["expected"] not in ("yes", "no"):
            raise ValueError(f"{path.name}: expected must be 'yes' or 'no'")
        out.append(item)
    return out


def _lag1(x: np.ndarray) -> float:
    d = np.diff(x)
    if len(d) < 3 or d[:-1].std() == 0 or d[1:].std() == 0:
        return 0.0
    return float(np.corrcoef(d[:-1], d[1:])[0, 1])


def run(
    seed_text: str,
    question: str,
    *,
    agents: int,
    rounds: int,
    policy: str,
    llm_url: str | None,
    random_seed: int,
) -> dict[str, Any]:
    """One simulation; the figures of its artifacts."""
    spec = RunSpec(
        seed_text=seed_text,
        goal=question,
        agents=agents,
        rounds=rounds,
        policy=policy,  # type: ignore[arg-type]
        llm_url=llm_url,
        random_seed=random_seed,
        checkpoint_every=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate(spec, tmp)
        out = Path(tmp)
        curves = json.loads((out / "market_curves.json").read_text())
        posts = json.loads((out / "posts.json").read_text())
        trajectories = json.loads((out / "agent_trajectories.json").read_text())
    prices = np.array([p["price_yes"] for p in curves[0]["points"]])
    received: dict[str, float] = {}
    for p in posts:
        received[p["author"]] = received.get(p["author"], 0.0) + p["likes"] + p["reposts"] + p["replies"]
    eng = np.zeros(agents)
    eng[: len(received)] = sorted(received.values(), reverse=True)
    top = max(1, int(round(0.05 * agents)))
    finals = np.array([t["points"][-1]["position"] for t in trajectories if t["points"]])
    return {
        "price": float(prices[-1]),
        "lag1": _lag1(prices),
        "texts": [p["text"] for p in posts],
        "top5": float(eng[:top].sum() / eng.sum()) if eng.sum() > 0 else 0.0,
        "spread": float(np.std(0.5 + 0.5 * finals)) if len(finals) else 0.0,
        "seconds": result.engine_seconds,
    }


def evaluate(
    seeds: list[dict[str, Any]],
    *,
    agents: int,
    rounds: int,
    policy: str = "heuristic",
    llm_url: str | None = None,
    random_seed: int = 7,
    verbose: bool = True,
) -> dict[str, float]:
    """Run A and not-A for every seed; the benchmark's figures."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    rows = []
    for item in seeds:
        options: dict[str, Any] = {"agents": agents, "rounds": rounds, "policy": policy, "llm_url": llm_url}
        # the question and its negation, on the same seed and random seed
        a, b = [
            run(item["seed"], item[q], **options, random_seed=random_seed)
            for q in ("question", "negated_question")
        ]
        label = 1.0 if item["expected"] == "yes" else 0.0
        row = {
            "name": item.get("name", "?"),
            "p_a": a["price"],
            "p_not_a": b["price"],
            "y": label,
            "sentiment": vader.polarity_scores(item["seed"])["compound"],
            "runs": (a, b),
        }
        rows.append(row)
        if verbose:
            ok = (a["price"] > 0.5) == (label == 1.0)
            print(
                f"  {row['name']:<18} expected {item['expected']:<3} P(A) {a['price']:.3f}  P(not A) {b['price']:.3f}"
                f"  {'ok' if ok else 'WRONG'}  ({a['seconds'] + b['seconds']:.1f} s)",
                flush=True,
            )
    runs = [r for row in rows for r in row["runs"]]
    p = np.array([row["p_a"] for row in rows])
    y = np.array([row["y"] for row in rows])
    s = np.array([row["sentiment"] for row in rows])
    texts = [t for r in runs for t in r["texts"]]
    return {
        "seeds": float(len(rows)),
        "direction": float(np.mean((p > 0.5) == (y == 1.0))),
        "brier": float(np.mean((p - y) ** 2)),
        "negation_gap": float(np.mean([abs(row["p_a"] + row["p_not_a"] - 1.0) for row in rows])),
        "sentiment_corr": float(np.corrcoef(p, s)[0, 1]) if p.std() > 0 and s.std() > 0 else 0.0,
        "distinct_posts": len(set(texts)) / max(1, len(texts)),
        "top5_engagement": float(np.mean([r["top5"] for r in runs])),
        "lag1_autocorr": float(np.mean([r["lag1"] for r in runs])),
        "belief_spread": float(np.mean([r["spread"] for r in runs])),
    }


def _print(title: str, figures: dict[str, float]) -> None:
    print(f"\n{title}")
    for key, value in figures.items():
        target = TARGETS.get(key, "")
        print(f"  {key:<16} {value:8.3f}   {('target ' + target) if target else ''}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--seed", type=int, default=7, help="random seed of every run")
    ap.add_argument("--only", help="run only the seeds whose name contains this")
    ap.add_argument("--llm-url", help="an OpenAI-compatible endpoint: also run the LLM policy")
    ap.add_argument("--llm-agents", type=int, default=20)
    ap.add_argument("--llm-rounds", type=int, default=5)
    args = ap.parse_args(argv)
    seeds = [s for s in load_seeds() if not args.only or args.only in s.get("name", "")]
    print(f"forecast benchmark: {len(seeds)} seeds, python {platform.python_version()}, {platform.machine()}")
    started = time.perf_counter()
    print(f"heuristic policy, {args.agents} agents x {args.rounds} rounds, question and negation:")
    _print("heuristic", evaluate(seeds, agents=args.agents, rounds=args.rounds, random_seed=args.seed))
    if args.llm_url:
        print(f"\nllm policy at {args.llm_url}, {args.llm_agents} agents x {args.llm_rounds} rounds:")
        _print(
            "llm",
            evaluate(
                seeds,
                agents=args.llm_agents,
                rounds=args.llm_rounds,
                policy="llm",
                llm_url=args.llm_url,
                random_seed=args.seed,
            ),
        )
    print(f"\nwall {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
