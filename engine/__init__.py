"""SimSwarm's simulation engine: seed + question -> agents, a social platform, markets, artifacts.

from engine import simulate
result = simulate(RunSpec(seed_text=..., goal="Will X happen by June?"), "out/")
"""

from engine.simulation import RoundReport, SimulationCancelled, SimulationResult, simulate, simulate_async

ENGINE_VERSION = "0.1.0"

__all__ = [
    "ENGINE_VERSION",
    "RoundReport",
    "SimulationCancelled",
    "SimulationResult",
    "simulate",
    "simulate_async",
]
