"""Entity relations from the run (docs/engine.md §8): typed, directed edges with a short fact.

From the interactions between the agents of two entities (votes, reposts, replies, follows, reads)
and their final stances:

* SUPPORTS — A's agents endorsed B's content (up-votes, reposts, follows) more than they opposed it;
* DISAGREES_WITH — A's agents down-voted B's content more than they endorsed it, or replied to it
  from the opposite side of the question;
* INFLUENCES — B's agents read A's posts and B's mean position moved toward A's.
"""

from __future__ import annotations

import numpy as np

from contracts.artifacts import Relation
from engine.entities import Entity
from engine.recorder import INTERACTIONS

MAX_RELATIONS = 200


def _lean(x: float) -> str:
    return "YES" if x > 0.15 else ("NO" if x < -0.15 else "undecided")


def _pos(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def derive_relations(
    entities: list[Entity],
    entity_index: np.ndarray,
    initial: np.ndarray,
    final: np.ndarray,
    interactions: np.ndarray,
) -> list[Relation]:
    """Relations between entities, strongest first (at most MAX_RELATIONS)."""
    e = len(entities)
    if e < 2:
        return []
    counts = np.bincount(entity_index, minlength=e).astype(float)
    start = np.bincount(entity_index, weights=initial, minlength=e) / np.maximum(counts, 1)
    end = np.bincount(entity_index, weights=final, minlength=e) / np.maximum(counts, 1)
    up, down, rep, repl, fol, reads = (
        interactions[INTERACTIONS.index(k)].astype(float) for k in INTERACTIONS
    )
    out: list[tuple[float, Relation]] = []

    def relate(rank: float, a: int, b: int, type_: str, fact: str, weight: float | None = None) -> None:
        """A relation from entity a to entity b, weighted by `rank` (strongest first) unless `weight` says."""
        weight = round(float(rank), 3) if weight is None else weight
        rel = Relation(
            source=entities[a].entity_id, target=entities[b].entity_id, type=type_, weight=weight, fact=fact
        )
        out.append((rank, rel))

    for a in range(e):
        for b in range(e):
            if a == b or not counts[a] or not counts[b]:
                continue
            ea, eb = entities[a], entities[b]
            endorse = up[a, b] + 2 * rep[a, b] + fol[a, b]
            oppose = down[a, b] + (repl[a, b] if end[a] * end[b] < 0 else 0)
            if endorse + oppose >= 1 and endorse > oppose:
                fact = (
                    f"{_pos(ea.name)} agents up-voted {eb.name} {int(up[a, b])}×, reposted {int(rep[a, b])}× "
                    f"and followed {int(fol[a, b])}×; both end {_lean(end[a])}/{_lean(end[b])} "
                    f"({end[a]:+.2f} vs {end[b]:+.2f})."
                )
                relate(endorse - oppose, a, b, "SUPPORTS", fact)
            elif endorse + oppose >= 1 and oppose > endorse:
                fact = (
                    f"{_pos(ea.name)} agents down-voted {eb.name} {int(down[a, b])}× and replied {int(repl[a, b])}×; "
                    f"final positions {end[a]:+.2f} vs {end[b]:+.2f}."
                )
                relate(oppose - endorse, a, b, "DISAGREES_WITH", fact)
            # b read a's posts and moved toward a
            moved = abs(start[b] - end[a]) - abs(end[b] - end[a])
            if reads[b, a] >= 3 and moved > 0.02:
                fact = (
                    f"{eb.name} read {int(reads[b, a])} posts by {ea.name} and moved from {start[b]:+.2f} "
                    f"to {end[b]:+.2f}, toward {_pos(ea.name)} {end[a]:+.2f}."
                )
                relate(float(moved * np.log1p(reads[b, a])), a, b, "INFLUENCES", fact)
    if not out:
        for a in range(e):
            for b in range(a + 1, e):
                if abs(end[a]) > 0.15 and abs(end[b]) > 0.15:
                    kind = "SUPPORTS" if end[a] * end[b] > 0 else "DISAGREES_WITH"
                    fact = f"No direct interaction; final positions {end[a]:+.2f} vs {end[b]:+.2f}."
                    relate(abs(end[a] - end[b]), a, b, kind, fact, weight=0.5)
    out.sort(key=lambda x: (-x[0], x[1].source, x[1].target, x[1].type))
    return [r for _, r in out[:MAX_RELATIONS]]
