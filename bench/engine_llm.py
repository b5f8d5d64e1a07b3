"""Benchmark of the LLM policy: overhead per action, achieved concurrency, calls per second.

    python -m bench.engine_llm                         # fake server (subprocess), 2,000 agents
    python -m bench.engine_llm --agents 500 --rounds 2 --latency-ms 50:200
    python -m bench.engine_llm --url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-14B

Two parts. (1) The policy alone: synthetic observations, `decide()` per round; the client's own
overhead per call is its measured latency minus the time the fake server reports it spent
(`x-fake-server-ms`). (2) The whole engine: `engine.simulate(policy="llm")` with the policy wrapped
to time `decide()`; the engine's overhead per action is the wall time outside `decide()` divided by
the actions. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from contracts.spec import MarketSpec
from contracts.worker import RunSpec
from engine.llm import LLMConfig, build_llm_components
from engine.policies.base import Action, FeedPost, FeedReply, MarketView, Observation

SEED = (
    "The city council of Springfield votes next month on a new light-rail line. Mayor Ana Ruiz backs it; "
    "the Taxpayers Alliance and several business owners oppose it; the Transit Workers Union wants jobs "
    "guaranteed. Polls show residents split, with younger voters in favour."
)
GOAL = "Will the Springfield council approve the light-rail line by the end of next month?"


def synthetic_observations(n: int, round_: int, rounds: int) -> list[Observation]:
    """`n` agents' observations with a realistic amount of text (a 10-post feed with replies)."""
    feed = [
        FeedPost(
            post_id=f"p{round_}-{i}",
            author_id=f"a{(i * 37) % n}",
            author_name=f"Resident {i}",
            text=f"Post {i}: the rail line would change how the east side commutes, and here is why. " * 2,
            round=max(0, round_ - 1),
            likes=i,
            dislikes=i % 3,
            replies=[
                FeedReply(
                    post_id=f"r{round_}-{i}",
                    author_id=f"a{i}",
                    author_name="Neighbour",
                    text="Not convinced at all.",
                )
            ],
            reply_count=1,
        )
        for i in range(10)
    ]
    markets = [MarketView(market_id="council-approves-rail", question=GOAL, price_yes=0.47)]
    return [
        Observation(
            agent_id=f"a{i}",
            agent_name=f"Agent {i}",
            persona="A commuter who cares about costs.",
            traits={"activity": 0.6, "stubbornness": 0.3},
            round=round_,
            rounds=rounds,
            question=GOAL,
            position=((i % 21) - 10) / 10,
            confidence=0.5,
            cash=100.0,
            markets=markets,
            feed=feed,
        )
        for i in range(n)
    ]


def llm_spec(url: str, model: str, agents: int, rounds: int, **more: Any) -> RunSpec:
    """The bench's run: the light-rail seed, decided by the model at `url`."""
    return RunSpec(
        seed_text=SEED,
        goal=GOAL,
        policy="llm",
        llm_url=url,
        model=model or None,
        agents=agents,
        rounds=rounds,
        **more,
    )


def config(url: str, model: str, concurrency: int) -> LLMConfig:
    return LLMConfig(url=url, model=model, concurrency=concurrency, timeout_s=120, max_tokens=128)


async def bench_policy(url: str, model: str, agents: int, rounds: int, concurrency: int) -> dict[str, float]:
    comps = build_llm_components(llm_spec(url, model, agents, rounds), config(url, model, concurrency))
    obs_rounds = [synthetic_observations(agents, r, rounds) for r in range(1, rounds + 1)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for r, obs in enumerate(obs_rounds, start=1):
        await comps.policy.decide(r, obs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    counters = comps.client.counters
    await comps.aclose()
    calls = counters.calls
    client_seconds = sum(counters.latencies) if len(counters.latencies) == counters.requests else 0.0
    overhead_ms = (
        (client_seconds - counters.server_seconds) / calls * 1000 if counters.server_seconds else float("nan")
    )
    return {
        "calls": calls,
        "wall_s": wall,
        "calls_per_s": calls / wall,
        "cpu_ms_per_call": cpu / calls * 1000,
        "client_overhead_ms_per_call": overhead_ms,
        "mean_in_flight": counters.in_flight_area / wall,
        "mean_in_flight_busy": counters.in_flight_area / max(counters.busy_seconds, 1e-9),
        "latency_mean_ms": comps.counters()["llm_latency_mean_ms"],
        "errors": counters.errors,
    }


class TimedPolicy:
    """Wraps a policy to time its decide() calls (what the engine waits on the model for)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.decide_seconds = 0.0
        self.actions = 0

    async def decide(self, round: int, observations: list[Observation]) -> list[list[Action]]:
        t0 = time.perf_counter()
        out: list[list[Action]] = await self.inner.decide(round, observations)
        self.decide_seconds += time.perf_counter() - t0
        self.actions += sum(len(a) for a in out)
        return out

    def counters(self) -> dict[str, float]:
        return dict(self.inner.counters())

    async def aclose(self) -> None:
        await self.inner.aclose()


def bench_engine(url: str, model: str, agents: int, rounds: int, concurrency: int) -> dict[str, float] | str:
    try:
        from engine import simulate
    except ImportError as exc:
        return f"engine core not available ({exc})"
    spec = llm_spec(
        url,
        model,
        agents,
        rounds,
        checkpoint_every=0,
        markets=[MarketSpec(question=GOAL, initial_price_yes=0.5)],
    )
    comps = build_llm_components(spec, config(url, model, concurrency))
    timed = TimedPolicy(comps.policy)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        simulate(spec, Path(out), policy=timed)
        wall = time.perf_counter() - t0
    outside = wall - timed.decide_seconds
    return {
        "wall_s": wall,
        "decide_s": timed.decide_seconds,
        "actions": timed.actions,
        "engine_ms_per_action_outside_llm": outside / max(timed.actions, 1) * 1000,
        "calls_per_s": comps.client.counters.calls / wall,
    }


def _print(title: str, figures: dict[str, float] | str) -> None:
    print(f"\n{title}")
    if isinstance(figures, str):
        print(f"  {figures}")
        return
    for key, value in figures.items():
        print(f"  {key:34s} {value:12.3f}" if isinstance(value, float) else f"  {key:34s} {value:12d}")


def main(argv: list[str] | None = None) -> None:
    """Run both parts and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", help="a real OpenAI-compatible server (default: the fake, in a subprocess)")
    p.add_argument("--model", default="")
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--latency-ms", default="50:200", help="the fake's latency range")
    p.add_argument("--skip-engine", action="store_true")
    args = p.parse_args(argv)
    fake = None
    url = args.url
    if not url:
        from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer

        lo, _, hi = args.latency_ms.partition(":")
        fake = FakeOpenAIServer(
            FakeBehaviour(latency_ms=(float(lo), float(hi or lo))), subprocess_mode=True
        ).start()
        url = fake.url
    try:
        print(
            f"LLM policy bench: {args.agents} agents x {args.rounds} rounds, concurrency {args.concurrency}, "
            f"{'fake server ' + args.latency_ms + ' ms' if fake else url}"
        )
        _print(
            "policy alone (decide per round)",
            asyncio.run(bench_policy(url, args.model, args.agents, args.rounds, args.concurrency)),
        )
        if not args.skip_engine:
            _print(
                "whole engine (engine.simulate, policy=llm)",
                bench_engine(url, args.model, args.agents, args.rounds, args.concurrency),
            )
        if fake is not None:
            s = fake.stats()
            print(
                f"\nfake server: {s['requests']} requests, max in flight {s['max_in_flight']}, "
                f"{s['distinct_system_prompts']} distinct system prompt(s)"
            )
    finally:
        if fake is not None:
            fake.stop()


if __name__ == "__main__":
    main()
