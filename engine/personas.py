"""Agents and personas (docs/engine.md §2): one agent per stakeholder, then clones with varied traits.

Everything about a population lives in numpy arrays indexed by agent number, so the hot paths
(activity sampling, belief updates) are vectorised. Built deterministically from the random seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from engine.entities import Entity

TRAITS = ("activity", "stubbornness", "contrarianism", "risk_appetite")


def _describe(value: float, low: str, mid: str, high: str) -> str:
    return low if value < 0.33 else (mid if value < 0.66 else high)


@dataclass(eq=False)
class Population:
    """Agent identities and traits; beliefs live beside them (positions, confidence)."""

    ids: list[str]
    names: list[str]
    entity_index: np.ndarray  # int32[N]
    traits: np.ndarray  # float64[N, 4] in TRAITS order
    initial_position: np.ndarray
    initial_confidence: np.ndarray
    personas: list[str]
    id_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.id_index = {a: i for i, a in enumerate(self.ids)}

    @property
    def n(self) -> int:
        return len(self.ids)

    def trait(self, name: str) -> np.ndarray:
        return self.traits[:, TRAITS.index(name)]

    def trait_dict(self, i: int) -> dict[str, float]:
        """Agent i's traits, rounded (built once for all agents: traits never change in a run)."""
        cache: list[dict[str, float]] | None = getattr(self, "_trait_dicts", None)
        if cache is None:
            cache = self._trait_dicts = [
                {t: round(v, 4) for t, v in zip(TRAITS, row, strict=True)} for row in self.traits.tolist()
            ]
        return cache[i]

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: the constructor's arguments, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Population:
        return cls(**{f.name: s[f.name] for f in fields(cls) if f.init})


def _clone_plan(entities: list[Entity], n: int) -> np.ndarray:
    """Which entity each agent stands for: one each (most prominent first), then by prominence."""
    order = sorted(range(len(entities)), key=lambda i: (-entities[i].weight, i))
    if n <= len(entities):
        return np.array(sorted(order[:n]), dtype=np.int32)
    weights = np.array([entities[i].weight for i in range(len(entities))], dtype=float)
    weights = np.sqrt(weights) / np.sqrt(weights).sum()
    extra = n - len(entities)
    counts = np.floor(weights * extra).astype(int)
    for i in order[: extra - int(counts.sum())]:
        counts[i] += 1
    plan = list(range(len(entities)))
    for i, c in enumerate(counts):
        plan.extend([i] * int(c))
    return np.array(plan, dtype=np.int32)


def activity_scale(n: int) -> float:
    """Large populations act less often per agent, so a round is a sample, not everybody."""
    return float(min(1.0, max(0.2, (300.0 / max(n, 1)) ** 0.5)))


def build_population(entities: list[Entity], n: int, seed: int) -> Population:
    """`n` agents for the entities: principals first, clones with traits drawn around their view."""
    rng = np.random.default_rng([seed, 0x5EED, 1])
    plan = _clone_plan(entities, n)
    stances = np.array([e.stance for e in entities])[plan]
    principal = np.zeros(n, dtype=bool)
    principal[: min(n, len(entities))] = True
    traits = np.empty((n, 4))
    traits[:, 0] = rng.beta(2.2, 2.5, n) * activity_scale(n) * np.where(principal, 1.3, 1.0)
    traits[:, 0] = np.clip(traits[:, 0], 0.03, 0.95)
    traits[:, 1] = rng.beta(2.0, 3.0, n)  # stubbornness
    traits[:, 2] = np.clip(rng.beta(1.2, 7.0, n), 0.0, 0.8)  # contrarianism
    traits[:, 3] = rng.beta(2.0, 2.5, n)  # risk appetite
    spread = np.where(principal, 0.08, 0.3)
    position = np.clip(stances + rng.normal(0.0, 1.0, n) * spread, -0.95, 0.95)
    confidence = np.clip(0.35 + 0.4 * np.abs(position) + rng.normal(0, 0.08, n), 0.05, 0.95)
    counters: dict[int, int] = {}
    ids: list[str] = []
    names: list[str] = []
    personas: list[str] = []
    for i in range(n):
        ent = entities[int(plan[i])]
        k = counters.get(int(plan[i]), 0)
        counters[int(plan[i])] = k + 1
        if k == 0:
            ids.append(ent.entity_id)
            names.append(ent.name)
            role = f"You are {ent.name} ({ent.type})."
        else:
            ids.append(f"{ent.entity_id}--{k}")
            label = ent.name if ent.type in ("faction", "viewpoint", "group") else f"{ent.name} supporter"
            names.append(f"{label} #{k}")
            role = f"You are one of many voices aligned with {ent.name} ({ent.type})."
        t = traits[i]
        personas.append(
            f"{role} {ent.summary} Temperament: "
            f"{_describe(t[0] / max(activity_scale(n), 1e-9), 'quiet', 'engaged', 'very active')}, "
            f"{_describe(t[1], 'open-minded', 'steady', 'stubborn')}, "
            f"{_describe(t[2] * 2, 'goes with the crowd', 'independent', 'contrarian')}, "
            f"{_describe(t[3], 'cautious with money', 'measured risk-taker', 'bold trader')}."
        )
    return Population(ids, names, plan, traits, position, confidence, personas)
