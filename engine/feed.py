"""Feed ranking (docs/engine.md §3), vectorised over all readers of a round.

Score of a top-level post for a reader = recency + popularity ln(1 + likes + reposts) - a dislike
penalty + a virality boost (the same for everybody), plus the personal terms: a boost for followed
authors and the echo chamber (agreement between the post's stance and the reader's position, times
the echo-chamber strength). Candidates are the recent posts, narrowed to the best `pool` by the
shared score before the personal terms are added, so a round costs O(readers × pool), not
O(readers × posts).
"""

from __future__ import annotations

import numpy as np

from engine.social import Platform

FEED_SIZE = 20
WINDOW_ROUNDS = 8
POOL = 256
RECENCY = 0.35
POPULARITY = 0.6
DISLIKE = 0.3
VIRAL_BOOST = 1.0
FOLLOW_BOOST = 1.0
ECHO = 1.0


def rank_feeds(platform: Platform, readers: np.ndarray, positions: np.ndarray, rnd: int, *,
               size: int = FEED_SIZE, echo: float = ECHO, pool: int = POOL) -> np.ndarray:
    """Post indices of each reader's feed, best first: int array [len(readers), size], -1 padded."""
    out = np.full((len(readers), size), -1, dtype=np.int64)
    n = platform.count
    if n == 0 or len(readers) == 0:
        return out
    parent = platform.col("parent")
    rounds = platform.col("round")
    cand = np.flatnonzero((parent < 0) & (rounds >= rnd - WINDOW_ROUNDS))
    if len(cand) == 0:
        return out
    likes = platform.col("likes")[cand].astype(float)
    reposts = platform.col("reposts")[cand].astype(float)
    dislikes = platform.col("dislikes")[cand].astype(float)
    base = (-RECENCY * (rnd - rounds[cand]) + POPULARITY * np.log1p(likes + reposts)
            - DISLIKE * np.log1p(dislikes) + VIRAL_BOOST * platform.col("viral")[cand])
    if len(cand) > pool:
        keep = np.argsort(-base, kind="stable")[:pool]
        keep.sort()
        cand, base = cand[keep], base[keep]
    authors = platform.col("author")[cand].astype(np.int64)
    stance = platform.stance[cand]
    pos = positions[readers]
    score = base[None, :] + echo * (1.0 - 0.5 * np.abs(stance[None, :] - pos[:, None]))
    fk = platform.follow_keys()
    if len(fk):
        keys = readers.astype(np.int64)[:, None] * platform.n_agents + authors[None, :]
        hit = np.searchsorted(fk, keys)
        followed = fk[np.minimum(hit, len(fk) - 1)] == keys
        score += FOLLOW_BOOST * followed
    score[authors[None, :] == readers[:, None]] = -np.inf
    k = min(size, len(cand))
    if len(cand) > k:
        top = np.argpartition(-score, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(len(cand)), (len(readers), len(cand))).copy()
    top_scores = np.take_along_axis(score, top, axis=1)
    # best first; ties broken by newer post (higher index) so the order is total and stable
    order = np.lexsort((-top, -top_scores), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    top_scores = np.take_along_axis(top_scores, order, axis=1)
    chosen = np.where(np.isfinite(top_scores), cand[top], -1)
    out[:, :k] = chosen
    return out
