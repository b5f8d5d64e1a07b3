"""Who knows which claim (docs/engine.md, "Agents from claims" and "Beliefs").

Every agent starts from the claims its stakeholder asserts or would know, not from the seed's
mood: a stakeholder's own claims are known to its principal and to most of its population, claims
about it to many of them, the seed's narration to some, other stakeholders' claims to few. So
information differs between agents. Claims dated later in the seed arrive in later rounds
(`Claim.arrival_round`), learned then by the same rule. Reading a post that argues a claim
teaches it: from then on the reader can argue it too, and meeting it again counts for less.

Everything is numpy: `known` is bool[N, C] and `seen` (times a claim was met) uint8[N, C].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.claims import Claim
from engine.entities import Entity

P_OWN, P_OWN_CLONE, P_ABOUT, P_NARRATION, P_OTHER = 1.0, 0.85, 0.6, 0.35, 0.15
PRIOR_GAIN = 1.0  # log-odds per unit of (stance x strength) of a claim known at the start
OWN_WEIGHT = 2.0  # a stakeholder's own claims count double for its agents
INTEREST_GAIN = 1.0  # log-odds of leaning with one's stakeholder (its stance, from the claims it asserts)
PRIOR_NOISE = 0.35  # sd of each agent's own prior, in log-odds (temperament, private reasons)
MAX_LOGODDS = 6.0


def claim_arrays(claims: list[Claim]) -> tuple[np.ndarray, np.ndarray]:
    """(signed evidence = sign(stance) x strength, arrival round) per claim."""
    ev = np.array([(1.0 if c.stance > 0 else -1.0) * c.strength for c in claims], dtype=float)
    arrival = np.array([c.arrival_round for c in claims], dtype=np.int64)
    return ev.reshape(len(claims)), arrival.reshape(len(claims))


def knowing_probability(entities: list[Entity], claims: list[Claim]) -> np.ndarray:
    """P(an agent of entity e knows claim c): float[E, C] (clones; principals see P_OWN for own claims)."""
    idx = {e.entity_id: i for i, e in enumerate(entities)}
    prob = np.full((len(entities), len(claims)), P_OTHER)
    for c_i, c in enumerate(claims):
        if not c.source_id:
            prob[:, c_i] = P_NARRATION
        for m in c.mentions:
            if m in idx:
                prob[idx[m], c_i] = max(prob[idx[m], c_i], P_ABOUT)
        if c.source_id in idx:
            prob[idx[c.source_id], c_i] = P_OWN_CLONE
    return prob


def _draw(
    entity_index: np.ndarray,
    principal: np.ndarray,
    prob: np.ndarray,
    own: np.ndarray,
    columns: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    p = prob[entity_index][:, columns]
    p = np.where(principal[:, None] & own[entity_index][:, columns], P_OWN, p)
    return rng.random(p.shape) < p


def initial_knowledge(
    entities: list[Entity], claims: list[Claim], entity_index: np.ndarray, principal: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(known bool[N, C], prior log-odds float[N]) for a population; deterministic for the seed."""
    n, c = len(entity_index), len(claims)
    rng = np.random.default_rng([seed, 0x5EED, 7])
    known = np.zeros((n, c), dtype=bool)
    noise = rng.normal(0.0, PRIOR_NOISE, n)
    if c == 0:
        return known, noise
    prob = knowing_probability(entities, claims)
    own = own_matrix(entities, claims)
    ev, arrival = claim_arrays(claims)
    start = np.flatnonzero(arrival <= 0)
    if len(start):
        known[:, start] = _draw(entity_index, principal, prob, own, start, rng)
    # an agent weighs what its own stakeholder asserts more, and leans the way its stakeholder does
    weighted = known * np.where(own[entity_index], OWN_WEIGHT, 1.0)
    stance = np.array([e.stance for e in entities], dtype=float)[entity_index]
    prior = weighted @ (PRIOR_GAIN * ev) + INTEREST_GAIN * stance + noise
    return known, np.clip(prior, -MAX_LOGODDS, MAX_LOGODDS)


def own_matrix(entities: list[Entity], claims: list[Claim]) -> np.ndarray:
    """bool[E, C]: entity e asserts claim c."""
    idx = {e.entity_id: i for i, e in enumerate(entities)}
    own = np.zeros((len(entities), len(claims)), dtype=bool)
    for c_i, c in enumerate(claims):
        if c.source_id in idx:
            own[idx[c.source_id], c_i] = True
    return own


def arrivals(
    entities: list[Entity],
    claims: list[Claim],
    entity_index: np.ndarray,
    principal: np.ndarray,
    known: np.ndarray,
    rnd: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Claims arriving this round: (who newly learned which, bool[N, C]) and the log-odds it adds, float[N]."""
    n = len(entity_index)
    ev, arrival = claim_arrays(claims)
    cols = np.flatnonzero(arrival == rnd)
    learned = np.zeros_like(known)
    if len(cols) == 0 or rnd <= 0:
        return learned, np.zeros(n)
    rng = np.random.default_rng([seed, rnd, 41])
    draw = _draw(
        entity_index,
        principal,
        knowing_probability(entities, claims),
        own_matrix(entities, claims),
        cols,
        rng,
    )
    learned[:, cols] = draw & ~known[:, cols]
    return learned, learned.astype(float) @ (PRIOR_GAIN * ev)


def knowledge_state(known: np.ndarray, seen: np.ndarray, anchor: np.ndarray) -> dict[str, Any]:
    return {"known": known, "seen": seen, "anchor": anchor}
