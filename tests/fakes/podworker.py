"""The real pod worker API (engine.worker.create_app) with a scripted simulation whose pace tests set.

`python -m tests.fakes.podworker --host 127.0.0.1 --port P`; token from SIMSWARM_POD_TOKEN like the
real one. The protocol, auth, progress long-poll and presigned uploads are the worker's own code; only
`engine.simulate` is replaced, by one that sleeps `SIMSWARM_FAKE_ROUND_S` per round and writes every
engine artifact, so a test can kill a worker mid-run deterministically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import uvicorn

from contracts.artifacts import ENGINE_ARTIFACTS
from contracts.worker import ArtifactDigest, RunSpec
from engine.simulation import RoundReport, SimulationResult
from engine.worker import create_app
from engine.worker.settings import settings_from_env


def scripted_simulate(
    spec: RunSpec,
    out_dir: Path,
    *,
    progress: Any,
    should_stop: Any,
    checkpoint_sink: Any = None,
    **_ignored: Any,
) -> SimulationResult | None:
    """Rounds at a fixed pace, a checkpoint every `checkpoint_every` rounds, then every artifact.

    A resumed run starts at round 1 again, and `policy` is not used: nothing here decides.
    """
    delay = float(os.environ.get("SIMSWARM_FAKE_ROUND_S", "0.05"))
    started = time.monotonic()
    question = spec.markets[0].question if spec.markets else spec.goal
    price = 0.5
    for rnd in range(1, spec.rounds + 1):
        if should_stop():
            return None
        time.sleep(delay)
        price = round(0.5 + 0.02 * rnd, 4)
        progress(
            RoundReport(
                round=rnd,
                rounds=spec.rounds,
                prices={question: price},
                counters={"posts": float(rnd * 3)},
                active_agents=spec.agents,
            )
        )
        if checkpoint_sink and spec.checkpoint_every and rnd % spec.checkpoint_every == 0:
            checkpoint_sink(rnd, json.dumps({"round": rnd}).encode())
    files = []
    for name in ENGINE_ARTIFACTS:
        data = json.dumps({"file": name, "agents": spec.agents, "seed": spec.random_seed}).encode()
        (out_dir / name).write_bytes(data)
        files.append(ArtifactDigest(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest()))
    return SimulationResult(
        out_dir=out_dir,
        files=files,
        engine_seconds=time.monotonic() - started,
        counters={"rounds": float(spec.rounds)},
        final_prices={question: price},
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    app = create_app(settings_from_env(), simulate=scripted_simulate)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
