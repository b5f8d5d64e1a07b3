"""Belief dynamics (docs/engine.md, "Beliefs"), vectorised over every (reader, post read) pair.

Each agent holds log-odds L for the question (its position is tanh(L/2), so P(yes) = sigmoid(L)),
an anchor L0 (its own starting view, from the claims it knew), a confidence and trust per author.
Exposure is what it read. For reader i and the posts j it read this round:

    novelty_ij = 1 / (1 + times i met claim_j before)      (0.3 for a post that argues no claim)
    w_ij       = 2·trust(i, author_j) · social_proof_j · novelty_ij
    E_i        = Σ_j w_ij · stance_j ,   M_i = Σ_j w_ij
    ΔL_i       = GAIN · (1 - stubbornness_i) · (1 - 0.5·confidence_i) · (1 - 2·contrarianism_i) · E_i / sqrt(1 + M_i)
    L_i       ← clip(L_i + ΔL_i - ANCHOR · stubbornness_i · (L_i - L0_i), ±6)

Evidence moves beliefs in log-odds, so a run of agreeing posts cannot overshoot past certainty; a
repeated claim counts less each time; volume counts sub-linearly (sqrt), so a crowd repeating
itself is not a crowd of arguments. Without evidence an agent relaxes toward its own anchor
(Friedkin-Johnsen), never toward a common constant. Trust in an author rises when the author's
post agrees with the reader's new view and falls when it disagrees, which lets communities
polarise as well as converge.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GAIN = 1.0  # log-odds per unit of trusted, novel, full-strength evidence (one strong claim ≈ ×2.7 odds)
ANCHOR = 0.15  # per round, times stubbornness: the pull back toward the agent's own starting view
NO_CLAIM_NOVELTY = 0.3  # a post that argues no claim is a social signal only
TRUST_RATE = 0.1
CONFIDENCE_RATE = 0.04
DEFAULT_TRUST = 0.5
MAX_LOGODDS = 6.0
OLD_NOVELTY = 0.4  # kept for callers of the previous model's constant


class TrustStore:
    """Sparse trust[reader, author] in [0, 1] (default 0.5) as sorted int64 keys + float values."""

    def __init__(self, n_agents: int) -> None:
        self.n = n_agents
        self.keys = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0)

    def _find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.searchsorted(self.keys, keys)
        if len(self.keys) == 0:
            return idx, np.zeros(len(keys), dtype=bool)
        found = self.keys[np.minimum(idx, len(self.keys) - 1)] == keys
        return idx, found

    def get(self, readers: np.ndarray, authors: np.ndarray) -> np.ndarray:
        keys = readers.astype(np.int64) * self.n + authors
        idx, found = self._find(keys)
        out = np.full(len(keys), DEFAULT_TRUST)
        out[found] = self.values[idx[found]]
        return out

    def set(self, readers: np.ndarray, authors: np.ndarray, values: np.ndarray) -> None:
        """Set trust for (reader, author) pairs; the keys must be unique."""
        keys = readers.astype(np.int64) * self.n + authors
        idx, found = self._find(keys)
        self.values[idx[found]] = values[found]
        new = ~found
        if new.any():
            nk, nv = keys[new], values[new]
            order = np.argsort(nk)
            nk, nv = nk[order], nv[order]
            at = np.searchsorted(self.keys, nk)
            self.keys = np.insert(self.keys, at, nk)
            self.values = np.insert(self.values, at, nv)

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "keys": self.keys, "values": self.values}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> TrustStore:
        t = cls(s["n"])
        t.keys, t.values = np.asarray(s["keys"], dtype=np.int64), np.asarray(s["values"], dtype=float)
        return t


def social_proof(likes: np.ndarray, reposts: np.ndarray, dislikes: np.ndarray) -> np.ndarray:
    return (1.0 + np.log1p(likes + reposts)) / (1.0 + np.log1p(dislikes))


def to_logodds(position: np.ndarray) -> np.ndarray:
    """Log-odds of positions in [-1, 1] (position = tanh(L/2))."""
    return 2.0 * np.arctanh(np.clip(position, -0.995, 0.995))


def to_position(logodds: np.ndarray) -> np.ndarray:
    return np.tanh(np.asarray(logodds) / 2.0)


def novelty(seen: np.ndarray, reader: np.ndarray, claim: np.ndarray) -> np.ndarray:
    """1 / (1 + times met) for posts that argue a claim, NO_CLAIM_NOVELTY for the others."""
    has = claim >= 0
    out = np.full(len(reader), NO_CLAIM_NOVELTY)
    if has.any():
        out[has] = 1.0 / (1.0 + seen[reader[has], claim[has]].astype(float))
    return out


def update_beliefs(
    logodds: np.ndarray,
    anchor: np.ndarray,
    confidence: np.ndarray,
    stubbornness: np.ndarray,
    contrarianism: np.ndarray,
    reader: np.ndarray,
    stance: np.ndarray,
    weight: np.ndarray,
) -> np.ndarray:
    """New log-odds of all agents after reading (reader[k] read a post of stance[k] with weight[k]).

    Pure function of arrays; never NaN; an agent that read nothing only relaxes toward its anchor.
    """
    n = len(logodds)
    weight = np.clip(np.nan_to_num(weight, nan=0.0, posinf=1e6), 0.0, 1e6)
    stance = np.clip(np.nan_to_num(stance, nan=0.0), -1.0, 1.0)
    mass = np.bincount(reader, weights=weight, minlength=n)
    evidence = np.bincount(reader, weights=weight * stance, minlength=n)
    gain = GAIN * (1.0 - stubbornness) * (1.0 - 0.5 * confidence) * (1.0 - 2.0 * contrarianism)
    delta = gain * evidence / np.sqrt(1.0 + mass)
    new = logodds + delta - ANCHOR * stubbornness * (logodds - anchor)
    return np.clip(np.nan_to_num(new, nan=0.0), -MAX_LOGODDS, MAX_LOGODDS)


def mark_seen(seen: np.ndarray, known: np.ndarray, reader: np.ndarray, claim: np.ndarray) -> None:
    """Count each claim met, and learn it (the reader can argue it from now on)."""
    has = claim >= 0
    if not has.any():
        return
    r, c = reader[has], claim[has]
    counts = np.zeros(seen.shape, dtype=np.uint16) if seen.size <= 4_000_000 else None
    if counts is not None:
        np.add.at(counts, (r, c), 1)
        np.minimum(seen.astype(np.uint16) + counts, 255, out=counts)
        seen[:] = counts.astype(np.uint8)
    else:
        keys, k_counts = np.unique(r.astype(np.int64) * seen.shape[1] + c, return_counts=True)
        rr, cc = keys // seen.shape[1], keys % seen.shape[1]
        seen[rr, cc] = np.minimum(seen[rr, cc].astype(np.int64) + k_counts, 255).astype(np.uint8)
    known[r, c] = True


def update_trust(
    trust: TrustStore, reader: np.ndarray, author: np.ndarray, stance: np.ndarray, new_position: np.ndarray
) -> None:
    """Trust rises when a post agrees with the reader's new view (stance x position > 0) and falls
    when it disagrees, in proportion to both (a neutral post or an undecided reader changes nothing)."""
    if len(reader) == 0:
        return
    keys = reader.astype(np.int64) * trust.n + author
    uniq, inv = np.unique(keys, return_inverse=True)
    agreement = np.clip(np.clip(stance, -1, 1) * new_position[reader] * 2.0, -1.0, 1.0)
    mean_agreement = np.bincount(inv, weights=agreement) / np.bincount(inv)
    u_reader, u_author = uniq // trust.n, uniq % trust.n
    current = trust.get(u_reader, u_author)
    updated = np.clip(current + TRUST_RATE * mean_agreement, 0.0, 1.0)
    trust.set(u_reader, u_author, np.nan_to_num(updated, nan=DEFAULT_TRUST))


def update_confidence(
    confidence: np.ndarray, likes_received: np.ndarray, dislikes_received: np.ndarray
) -> np.ndarray:
    """Confidence rises with likes on one's own posts and falls with dislikes."""
    delta = CONFIDENCE_RATE * (np.log1p(likes_received) - np.log1p(dislikes_received))
    return np.clip(np.nan_to_num(confidence + delta, nan=0.5), 0.0, 1.0)
