"""Feed ranking (docs/engine.md §3), vectorised over all readers of a round.

Score of a top-level post for a reader:

    -RECENCY·age + DECAY^age · (POPULARITY·ln(1 + likes + reposts) + VIRAL·viral) - DISLIKE·ln(1 + dislikes)
    + PROMINENCE·prior(author)                      (the shared part)
    + FOLLOW·followed + echo·agreement - SEEN·seen + EXPLORE·Gumbel noise   (the personal part)

* Popularity and virality fade with age (`DECAY` a round), so a post that collected likes in the
  first round cannot hold the top of every feed for the rest of the run: later arguments surface.
* `seen`: the post is older than the reader's previous visit, so it was on offer then; new posts
  rank above ones the reader has had its chance at (novelty).
* `prior(author)`: the author's prominence, from its stakeholder's salience in the seed (a
  principal speaks for the stakeholder; its clones carry a fraction of that).
* The Gumbel noise (from the run's generator for the round) makes each feed a draw from
  softmax(score / EXPLORE): ties are broken at random, never by post or agent index (posts of one
  round are created in agent order, so an index tie-break handed the engagement to the last agents),
  and a thousand like-minded readers do not all pile onto the same five posts.

Candidates are the recent posts, narrowed to the best `pool` by the shared score before the
personal terms are added, so a round costs O(readers × pool), not O(readers × posts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.social import Platform

FEED_SIZE = 20
WINDOW_ROUNDS = 8
POOL = 256
RECENCY = 0.35
DECAY = 0.75
POPULARITY = 0.6
DISLIKE = 0.3
VIRAL_BOOST = 1.0
FOLLOW_BOOST = 1.0
ECHO = 1.0
SEEN = 0.8
PROMINENCE = 0.3
CLONE_PROMINENCE = 0.25
EXPLORE = 0.5


def prominence_prior(entity_index: np.ndarray, salience: Sequence[float]) -> np.ndarray:
    """Per-agent prominence in [0, 1]: its stakeholder's salience relative to the most salient one,
    in full for the stakeholder's principal (its first agent), `CLONE_PROMINENCE` of it for clones."""
    sal = np.clip(np.asarray(salience, dtype=float), 0.0, None)
    if len(sal) == 0 or not np.isfinite(sal).all() or sal.max() <= 0:
        return np.zeros(len(entity_index))
    rel = sal / sal.max()
    ent = np.asarray(entity_index, dtype=np.int64)
    prior = rel[ent] * CLONE_PROMINENCE
    _, first = np.unique(ent, return_index=True)
    prior[first] = rel[ent[first]]
    return prior


def rank_feeds(
    platform: Platform,
    readers: np.ndarray,
    positions: np.ndarray,
    rnd: int,
    *,
    rng: np.random.Generator | None = None,
    prominence: np.ndarray | None = None,
    last_read: np.ndarray | None = None,
    size: int = FEED_SIZE,
    echo: float = ECHO,
    pool: int = POOL,
) -> np.ndarray:
    """Post indices of each reader's feed, best first: int array [len(readers), size], -1 padded.

    `rng` breaks ties (pass the run's generator for the round; without one a fixed generator is
    used, still independent of index). `prominence` is per agent (see `prominence_prior`);
    `last_read[agent]` is the round of the agent's previous visit (-1: never).
    """
    out = np.full((len(readers), size), -1, dtype=np.int64)
    n = platform.count
    if n == 0 or len(readers) == 0:
        return out
    rng = rng if rng is not None else np.random.default_rng(0)
    parent = platform.col("parent")
    rounds = platform.col("round")
    cand = np.flatnonzero((parent < 0) & (rounds >= rnd - WINDOW_ROUNDS))
    if len(cand) == 0:
        return out
    likes = platform.col("likes")[cand].astype(float)
    reposts = platform.col("reposts")[cand].astype(float)
    dislikes = platform.col("dislikes")[cand].astype(float)
    age = (rnd - rounds[cand]).astype(float)
    fade = DECAY ** np.maximum(age - 1.0, 0.0)
    base = (
        -RECENCY * age
        + fade * (POPULARITY * np.log1p(likes + reposts) + VIRAL_BOOST * platform.col("viral")[cand])
        - DISLIKE * np.log1p(dislikes)
    )
    if prominence is not None:
        base = base + PROMINENCE * prominence[platform.col("author")[cand]]
    if len(cand) > pool:
        keep = np.lexsort((rng.random(len(cand)), -base))[:pool]
        keep.sort()
        cand, base = cand[keep], base[keep]
    authors = platform.col("author")[cand].astype(np.int64)
    stance = platform.stance[cand]
    pos = positions[readers]
    score = base[None, :] + echo * (1.0 - 0.5 * np.abs(stance[None, :] - pos[:, None]))
    # Gumbel noise: the feed is a draw from softmax(score / EXPLORE) without replacement, so exact
    # ties fall at random and readers with the same tastes still see different posts.
    score -= EXPLORE * np.log(-np.log(np.clip(rng.random(score.shape), 1e-12, 1.0 - 1e-12)))
    if last_read is not None:
        seen = rounds[cand][None, :] < last_read[readers][:, None]
        score -= SEEN * seen
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
    order = np.argsort(-top_scores, axis=1, kind="stable")  # the noise already made ties random
    top = np.take_along_axis(top, order, axis=1)
    top_scores = np.take_along_axis(top_scores, order, axis=1)
    chosen = np.where(np.isfinite(top_scores), cand[top], -1)
    out[:, :k] = chosen
    return out
