"""The social platform (docs/engine.md §3): posts, replies, votes, reposts, follows, virality.

Posts are stored column-wise (numpy arrays grown by doubling) so feed ranking and belief updates
are vectorised. Every action is validated here; a bad one returns an error string, never raises.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_TEXT = 1_000
REPLIES_SHOWN = 3


def _grow(arr: np.ndarray, size: int) -> np.ndarray:
    if size <= len(arr):
        return arr
    out = np.zeros(max(size, 2 * len(arr), 64), dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


class Platform:
    """Posts (top-level and replies) with their counters, votes, reposts and the follow graph."""

    INT_COLS = ("author", "round", "parent", "likes", "dislikes", "reposts", "replies", "viral")

    def __init__(self, n_agents: int) -> None:
        self.n_agents = n_agents
        self.count = 0
        self.cols: dict[str, np.ndarray] = {c: np.zeros(64, dtype=np.int32) for c in self.INT_COLS}
        self.stance = np.zeros(64)
        self.claim = np.full(64, -1, dtype=np.int32)  # the seed claim a post argues (-1: none)
        self.texts: list[str] = []
        self.children: dict[int, list[int]] = {}
        self.votes: dict[int, int] = {}  # post * n_agents + voter -> +1/-1
        self.reposted: set[int] = set()  # post * n_agents + agent
        self.follows: set[int] = set()  # follower * n_agents + followee
        self.follow_edges: list[list[int]] = []  # [follower, followee, round] in order made
        self.viral_events: list[int] = []  # post indices, in the order they went viral
        self._follow_sorted: np.ndarray | None = None

    # -- reading -------------------------------------------------------------------------------

    def col(self, name: str) -> np.ndarray:
        return self.cols[name][: self.count]

    def post_index(self, post_id: Any) -> int:
        """Index of a post id like 'p12', or -1."""
        if not isinstance(post_id, str) or not post_id.startswith("p") or not post_id[1:].isdigit():
            return -1
        idx = int(post_id[1:])
        return idx if 0 <= idx < self.count else -1

    def follow_keys(self) -> np.ndarray:
        """Sorted follower*n+followee keys for vectorised membership tests."""
        if self._follow_sorted is None:
            self._follow_sorted = np.sort(np.fromiter(self.follows, dtype=np.int64, count=len(self.follows)))
        return self._follow_sorted

    def following(self, agent: int) -> list[int]:
        lo, n = agent * self.n_agents, self.n_agents
        keys = self.follow_keys()
        a, b = np.searchsorted(keys, [lo, lo + n])
        return [int(k - lo) for k in keys[a:b]]

    def first_replies(self, post: int) -> list[int]:
        return self.children.get(post, [])[:REPLIES_SHOWN]

    # -- acting --------------------------------------------------------------------------------

    def _add(self, author: int, rnd: int, parent: int, text: str, stance: float, claim: int = -1) -> int:
        i = self.count
        if i >= len(self.stance):
            for c in self.INT_COLS:
                self.cols[c] = _grow(self.cols[c], i + 1)
            self.stance = _grow(self.stance, i + 1)
        if i >= len(self.claim):
            grown = np.full(max(i + 1, 2 * len(self.claim), 64), -1, dtype=np.int32)
            grown[: len(self.claim)] = self.claim
            self.claim = grown
        self.claim[i] = claim
        self.cols["author"][i] = author
        self.cols["round"][i] = rnd
        self.cols["parent"][i] = parent
        self.stance[i] = stance
        self.texts.append(text)
        self.count = i + 1
        if parent >= 0:
            self.children.setdefault(parent, []).append(i)
            self.cols["replies"][parent] += 1
        return i

    @staticmethod
    def check_text(text: Any) -> str | None:
        if not isinstance(text, str) or not text.strip():
            return "text must be a non-empty string"
        return None

    def create_post(self, author: int, rnd: int, text: str, stance: float, claim: int = -1) -> int:
        return self._add(author, rnd, -1, text.strip()[:MAX_TEXT], stance, claim)

    def reply(self, author: int, rnd: int, post: int, text: str, stance: float, claim: int = -1) -> int:
        return self._add(author, rnd, post, text.strip()[:MAX_TEXT], stance, claim)

    def vote(self, agent: int, post: int, value: Any) -> str | None:
        if isinstance(value, bool) or value not in (1, -1):
            return f"value must be 1 or -1, got {value!r}"
        if int(self.cols["author"][post]) == agent:
            return "cannot vote on your own post"
        key = post * self.n_agents + agent
        if key in self.votes:
            return "already voted on this post"
        self.votes[key] = int(value)
        self.cols["likes" if value == 1 else "dislikes"][post] += 1
        return None

    def repost(self, agent: int, post: int) -> str | None:
        if int(self.cols["author"][post]) == agent:
            return "cannot repost your own post"
        key = post * self.n_agents + agent
        if key in self.reposted:
            return "already reposted this post"
        self.reposted.add(key)
        self.cols["reposts"][post] += 1
        return None

    def follow(self, agent: int, target: int, rnd: int) -> str | None:
        if target == agent:
            return "cannot follow yourself"
        key = agent * self.n_agents + target
        if key in self.follows:
            return "already following this agent"
        self.follows.add(key)
        self.follow_edges.append([agent, target, rnd])
        self._follow_sorted = None
        return None

    def my_vote(self, agent: int, post: int) -> int:
        return self.votes.get(post * self.n_agents + agent, 0)

    def mark_viral(self, threshold: float) -> list[int]:
        """Top-level posts whose likes + reposts crossed the threshold for the first time."""
        n = self.count
        engagement = self.cols["likes"][:n] + self.cols["reposts"][:n]
        hits = np.flatnonzero(
            (engagement >= threshold) & (self.cols["viral"][:n] == 0) & (self.cols["parent"][:n] < 0)
        )
        for i in hits:
            self.cols["viral"][i] = 1
            self.viral_events.append(int(i))
        return [int(i) for i in hits]

    # -- checkpoint ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "n_agents": self.n_agents,
            "count": self.count,
            "cols": {c: self.col(c).copy() for c in self.INT_COLS},
            "stance": self.stance[: self.count].copy(),
            "claim": self.claim[: self.count].copy(),
            "texts": self.texts,
            "children": [[k, v] for k, v in self.children.items()],
            "votes": [[k, v] for k, v in self.votes.items()],
            "reposted": sorted(self.reposted),
            "follow_edges": self.follow_edges,
            "viral_events": self.viral_events,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Platform:
        p = cls(s["n_agents"])
        p.count = s["count"]
        for c in cls.INT_COLS:
            p.cols[c] = _grow(np.asarray(s["cols"][c], dtype=np.int32), p.count)
        p.stance = _grow(np.asarray(s["stance"], dtype=float), p.count)
        claim = np.asarray(s.get("claim", np.full(p.count, -1)), dtype=np.int32)
        p.claim = np.full(max(64, len(p.stance)), -1, dtype=np.int32)
        p.claim[: len(claim)] = claim
        p.texts = list(s["texts"])
        p.children = {int(k): list(v) for k, v in s["children"]}
        p.votes = {int(k): int(v) for k, v in s["votes"]}
        p.reposted = set(s["reposted"])
        p.follow_edges = [list(e) for e in s["follow_edges"]]
        p.follows = {a * p.n_agents + b for a, b, _ in p.follow_edges}
        p.viral_events = list(s["viral_events"])
        return p


def virality_threshold(n_agents: int) -> float:
    """Likes + reposts that make a post an event everyone hears about (grows slowly with size)."""
    return max(4.0, 2.0 * math.log(1 + n_agents) + 0.004 * n_agents)
