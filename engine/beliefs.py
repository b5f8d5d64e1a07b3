"""Belief dynamics (docs/engine.md §5), vectorised over every (reader, post read) pair of a round.

Exposure is what each agent read: its feed and the replies shown under it. For reader i:

    w_ij   = trust(i, author_j) · social_proof_j · novelty_ij
    target = Σ w_ij · stance_j / Σ w_ij
    pull   = rate · (1 - stubbornness) · (1 - 0.7·confidence) · mass/(mass + 1) · (1 - 2·contrarianism)
    position ← clamp(position + pull · (target - position), -1, 1)

social_proof = (1 + ln(1 + likes + reposts)) / (1 + ln(1 + dislikes)) (last round's counts),
novelty = 1 for posts newer than the reader's last visit, else 0.4. A contrarian (contrarianism
above 0.5) is pushed away from what it reads. Trust in an author then moves toward the agreement
between the author's stance and the reader's new position; confidence rises with likes received on
one's own posts and falls with dislikes. All values are clamped and NaN-free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RATE = 0.35
TRUST_RATE = 0.15
CONFIDENCE_RATE = 0.04
DEFAULT_TRUST = 0.5
OLD_NOVELTY = 0.4


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


def update_positions(position: np.ndarray, confidence: np.ndarray, stubbornness: np.ndarray,
                     contrarianism: np.ndarray, reader: np.ndarray, stance: np.ndarray,
                     weight: np.ndarray) -> np.ndarray:
    """New positions of all agents after reading (reader[k] read a post of stance[k], weight[k]).

    Agents that read nothing keep their position. Pure function of arrays; never NaN.
    """
    n = len(position)
    weight = np.clip(np.nan_to_num(weight, nan=0.0, posinf=1e6), 0.0, 1e6)
    mass = np.bincount(reader, weights=weight, minlength=n)
    pulled = np.bincount(reader, weights=weight * np.clip(stance, -1.0, 1.0), minlength=n)
    target = np.divide(pulled, mass, out=np.zeros(n), where=mass > 0)
    pull = (RATE * (1.0 - stubbornness) * (1.0 - 0.7 * confidence) * (mass / (mass + 1.0))
            * (1.0 - 2.0 * contrarianism))
    new = position + pull * (target - position)
    return np.clip(np.nan_to_num(new, nan=0.0), -1.0, 1.0)


def update_trust(trust: TrustStore, reader: np.ndarray, author: np.ndarray, stance: np.ndarray,
                 new_position: np.ndarray) -> None:
    """Trust rises when agreement (1 - |stance - position| / 2) is above 0.5 and falls below it."""
    if len(reader) == 0:
        return
    keys = reader.astype(np.int64) * trust.n + author
    uniq, inv = np.unique(keys, return_inverse=True)
    agreement = 1.0 - np.abs(np.clip(stance, -1, 1) - new_position[reader]) / 2.0
    mean_agreement = np.bincount(inv, weights=agreement) / np.bincount(inv)
    u_reader, u_author = uniq // trust.n, uniq % trust.n
    current = trust.get(u_reader, u_author)
    updated = np.clip(current + 2.0 * TRUST_RATE * (mean_agreement - 0.5), 0.0, 1.0)
    trust.set(u_reader, u_author, np.nan_to_num(updated, nan=DEFAULT_TRUST))


def update_confidence(confidence: np.ndarray, likes_received: np.ndarray, dislikes_received: np.ndarray) -> np.ndarray:
    """Confidence rises with likes on one's own posts and falls with dislikes."""
    delta = CONFIDENCE_RATE * (np.log1p(likes_received) - np.log1p(dislikes_received))
    return np.clip(np.nan_to_num(confidence + delta, nan=0.5), 0.0, 1.0)
