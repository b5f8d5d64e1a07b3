"""The engine's entry point: run one simulation from a RunSpec to a folder of artifacts.

`simulate_async` builds the world (entities, agents, markets; via the LLM components when the spec
asks for the `llm` policy), runs the rounds, reports progress, checkpoints, honours cancellation,
and writes the artifacts. `simulate` is the synchronous wrapper the worker runs in a thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

from contracts.artifacts import ChatLogEntry
from contracts.spec import MarketSpec, dedupe_markets
from contracts.worker import ArtifactDigest, PostPreview, RunSpec
from engine.actions import apply_round
from engine.artifacts import write_artifacts
from engine.checkpoint import decode_checkpoint, encode_checkpoint
from engine.live import round_post_previews
from engine.market import build_markets
from engine.personas import build_population
from engine.policies.base import AgentPolicy
from engine.policies.heuristic import HeuristicPolicy
from engine.questions import DEFAULT_MARKET_LIMIT, derive_markets_heuristic, validate_run_spec
from engine.reading import read_seed
from engine.recorder import TOTAL_KEYS
from engine.stance import StanceScorer
from engine.world import World

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class SimulationCancelled(Exception):
    """Raised when `should_stop()` answered True; the run stops between rounds."""

    def __init__(self, round: int) -> None:
        super().__init__(f"simulation cancelled after round {round}")
        self.round = round


@dataclass
class RoundReport:
    """Progress after one round."""

    round: int
    rounds: int
    prices: dict[str, float]
    counters: dict[str, float]
    active_agents: int
    chat: list[ChatLogEntry] = field(default_factory=list)  # the round's actions (a bounded tail)
    posts: list[PostPreview] = field(
        default_factory=list
    )  # the round's newest top-level posts (engine/live.py)


@dataclass
class SimulationResult:
    """A finished run: where its files are, their digests, and the final market prices."""

    out_dir: Path
    files: list[ArtifactDigest]
    final_prices: dict[str, float]
    engine_seconds: float
    counters: dict[str, float] = field(default_factory=dict)


def _public_spec(spec: RunSpec) -> RunSpec:
    """The spec without anything that might be secret (credentials or query strings in the URL)."""
    if not spec.llm_url:
        return spec
    parts = urlsplit(spec.llm_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return msgspec.structs.replace(spec, llm_url=urlunsplit((parts.scheme, host, parts.path, "", "")))


def _counters(world: World, policy: AgentPolicy | None) -> dict[str, float]:
    sums = world.recorder.totals.sum(axis=0)
    out = {k: float(v) for k, v in zip(TOTAL_KEYS, sums, strict=True)}
    out["chat_entries"] = float(world.recorder.chat_count)
    getter = getattr(policy, "counters", None)
    if callable(getter):
        try:
            out.update({k: float(v) for k, v in getter().items()})
        except Exception:  # noqa: BLE001 - counters are informative only
            log.debug("policy counters unavailable", exc_info=True)
    return out


async def _build_world(spec: RunSpec, scorer: StanceScorer, llm: Any) -> World:
    goal = spec.goal.strip()
    reading = await read_seed(spec.seed_text, goal, agents=spec.agents, rounds=spec.rounds, llm=llm)
    entities = reading.entities
    if spec.markets:
        specs = dedupe_markets(list(spec.markets), max(len(spec.markets), 1))
    else:
        derived = (
            await llm.derive_markets(spec.seed_text, goal, DEFAULT_MARKET_LIMIT) if llm is not None else None
        )
        specs = dedupe_markets(
            list(derived or [])
            or derive_markets_heuristic(goal, entities, DEFAULT_MARKET_LIMIT, spec.forecast_days),
            DEFAULT_MARKET_LIMIT,
        )
    if not specs:
        specs = [MarketSpec(question=goal)]
    markets = build_markets(specs, agents=spec.agents)
    corr = [1.0] + [0.7 if scorer.score(m.question, goal) >= -0.1 else -0.7 for m in markets[1:]]
    population = build_population(entities, spec.agents, spec.random_seed)
    return World(
        question=goal,
        rounds=spec.rounds,
        seed=spec.random_seed,
        forecast_days=spec.forecast_days,
        entities=entities,
        population=population,
        markets=markets,
        market_corr=corr,
        scorer=scorer,
        reading=reading,
    )


async def simulate_async(
    spec: RunSpec,
    out_dir: str | Path,
    *,
    progress: Callable[[RoundReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_sink: Callable[[int, bytes], None] | None = None,
    resume_from: bytes | None = None,
    policy: AgentPolicy | None = None,
) -> SimulationResult:
    """Run the simulation the spec describes and write its artifacts into out_dir.

    Raises SpecError (a ValueError) for a spec that cannot run, CheckpointError for a checkpoint that
    does not fit it, and SimulationCancelled when should_stop() says so.
    """
    validate_run_spec(spec)
    started = time.perf_counter()
    out = Path(out_dir)
    scorer = StanceScorer()
    llm = None
    own_policy = policy is None
    try:
        if policy is None and spec.policy == "llm":
            from engine.llm import build_llm_components  # lazy: the heuristic path needs no LLM code

            llm = build_llm_components(spec)
            policy = llm.policy
        if resume_from is not None:
            state, _ = decode_checkpoint(resume_from, spec)
            world = World.from_state(state, scorer=scorer)
            log.info("resuming at round %d of %d", world.round, world.rounds)
        else:
            world = await _build_world(spec, scorer, llm)
        if policy is None:
            policy = HeuristicPolicy(spec.random_seed, scorer)
        for rnd in range(world.round + 1, spec.rounds + 1):
            if should_stop is not None and should_stop():
                raise SimulationCancelled(world.round)
            view, observations = world.observe(rnd)
            decisions = await policy.decide(rnd, observations)
            stats = apply_round(world, rnd, view.active, decisions or [])
            world.end_round(rnd, view, stats)
            if progress is not None:
                progress(
                    RoundReport(
                        round=rnd,
                        rounds=spec.rounds,
                        prices=world.prices(),
                        counters=_counters(world, policy),
                        active_agents=len(view.active),
                        chat=world.recorder.last_round_chat,
                        posts=round_post_previews(world, rnd),
                    )
                )
            if (
                checkpoint_sink is not None
                and spec.checkpoint_every
                and rnd % spec.checkpoint_every == 0
                and rnd < spec.rounds
            ):
                checkpoint_sink(rnd, encode_checkpoint(spec, world.state()))
            await asyncio.sleep(0)
        counters = _counters(world, policy)
        llm_counters = {k: v for k, v in counters.items() if k.startswith("llm_")} or None
        files = write_artifacts(
            world,
            _public_spec(spec),
            out,
            policy_name=policy.name,
            model=spec.model if policy.name == "llm" else None,
            llm_counters=llm_counters,
        )
        elapsed = time.perf_counter() - started
        counters["engine_seconds"] = elapsed
        return SimulationResult(
            out_dir=out, files=files, final_prices=world.prices(), engine_seconds=elapsed, counters=counters
        )
    finally:
        if own_policy and policy is not None:
            await policy.aclose()
        if llm is not None:
            await llm.aclose()


def _blocking(run: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """`run` with the same parameters, run to its end on an event loop of its own."""

    @functools.wraps(run)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(run(*args, **kwargs))

    return blocking


simulate = _blocking(simulate_async)
simulate.__name__ = simulate.__qualname__ = "simulate"
simulate.__doc__ = "Synchronous wrapper of simulate_async (runs its own event loop; call it from a thread)."
