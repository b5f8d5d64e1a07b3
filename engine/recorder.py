"""What a run leaves behind, accumulated round by round: chat log, trades, trajectories, curves.

The chat log is the big one at scale, so each round's entries are msgspec-encoded once into a JSON
fragment and kept as bytes; the file is the fragments joined.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from contracts.artifacts import ChatLogEntry, CurvePoint, EngagementRound, Trade

TOTAL_KEYS = (
    "actions",
    "failed",
    "posts",
    "replies",
    "votes",
    "reposts",
    "follows",
    "trades",
    "market_comments",
    "likes_received",
    "dislikes_received",
)
INTERACTIONS = ("upvotes", "downvotes", "reposts", "replies", "follows", "reads")


LIVE_CHAT_TAIL = 500


def numpy_hook(obj: Any) -> Any:
    """msgspec enc_hook: numpy scalars and arrays a policy may put in action args."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=numpy_hook)


def _safe_entry(e: ChatLogEntry) -> ChatLogEntry:
    try:
        _encoder.encode(e.args)
    except (TypeError, ValueError, OverflowError):
        e.args = {"unencodable_args": repr(e.args)[:500]}
    try:
        _encoder.encode(e.result)
    except (TypeError, ValueError, OverflowError):
        e.result = repr(e.result)[:500]
    return e


class Recorder:
    """Per-run records. Arrays are per agent (N) or per entity pair (E × E)."""

    def __init__(self, n_agents: int, n_entities: int, market_ids: list[str]) -> None:
        self.chat_chunks: list[bytes] = []
        self.chat_count = 0
        self.last_round_chat: list[ChatLogEntry] = []
        self.trades: list[Trade] = []
        self.positions: list[np.ndarray] = []
        self.confidences: list[np.ndarray] = []
        self.round_posts: list[np.ndarray] = []
        self.round_actions: list[np.ndarray] = []
        self.engagement: list[EngagementRound] = []
        self.curves: dict[str, list[CurvePoint]] = {m: [] for m in market_ids}
        self.totals = np.zeros((n_agents, len(TOTAL_KEYS)), dtype=np.int64)
        self.interactions = np.zeros((len(INTERACTIONS), n_entities, n_entities), dtype=np.int64)

    def total(self, key: str) -> np.ndarray:
        return self.totals[:, TOTAL_KEYS.index(key)]

    def add_chat(self, entries: list[ChatLogEntry]) -> None:
        # The newest round's entries (a bounded tail), for live views such as the worker's /chat.
        self.last_round_chat = entries[-LIVE_CHAT_TAIL:]
        if not entries:
            return
        try:
            blob = _encoder.encode(entries)
        except (TypeError, ValueError, OverflowError):
            blob = _encoder.encode([_safe_entry(e) for e in entries])
        self.chat_chunks.append(blob[1:-1])
        self.chat_count += len(entries)

    def chat_json(self) -> bytes:
        return b"[" + b",".join(self.chat_chunks) + b"]"

    def state(self) -> dict[str, Any]:
        return {
            "chat_chunks": self.chat_chunks,
            "chat_count": self.chat_count,
            "trades": msgspec.to_builtins(self.trades, enc_hook=numpy_hook),
            "positions": self.positions,
            "confidences": self.confidences,
            "round_posts": self.round_posts,
            "round_actions": self.round_actions,
            "engagement": msgspec.to_builtins(self.engagement),
            "curves": {k: msgspec.to_builtins(v) for k, v in self.curves.items()},
            "totals": self.totals,
            "interactions": self.interactions,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Recorder:
        r = cls.__new__(cls)
        r.chat_chunks = list(s["chat_chunks"])
        r.chat_count = s["chat_count"]
        r.last_round_chat = []
        r.trades = msgspec.convert(s["trades"], list[Trade])
        r.positions, r.confidences = list(s["positions"]), list(s["confidences"])
        r.round_posts, r.round_actions = list(s["round_posts"]), list(s["round_actions"])
        r.engagement = msgspec.convert(s["engagement"], list[EngagementRound])
        r.curves = {k: msgspec.convert(v, list[CurvePoint]) for k, v in s["curves"].items()}
        r.totals, r.interactions = s["totals"], s["interactions"]
        return r
