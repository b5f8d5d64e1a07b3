"""The pod worker API's bodies (docs/worker-api.md). The worker and the podmanager both import these."""

from __future__ import annotations

from typing import Literal

import msgspec

from contracts.artifacts import FileDigest
from contracts.spec import MarketSpec

RunState = Literal["running", "completed", "failed", "cancelled"]


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine needs to run one simulation (the resolved job spec)."""

    seed_text: str
    goal: str
    forecast_days: int = 30
    markets: list[MarketSpec] = []
    agents: int = 10
    rounds: int = 15
    policy: Literal["llm", "heuristic"] = "heuristic"
    random_seed: int = 0
    model: str | None = None
    llm_url: str | None = None  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1
    checkpoint_every: int = 10  # rounds; 0 disables


class RunSubmission(msgspec.Struct, frozen=True, kw_only=True):
    """POST /runs. Upload URLs are presigned PUTs, one per artifact file name; never logged."""

    run_id: str
    job_id: str
    spec: RunSpec
    upload_urls: dict[str, str]
    checkpoint_put_url: str | None = None
    resume_get_url: str | None = None


class ArtifactDigest(FileDigest, frozen=True, kw_only=True):
    """An artifact file the worker wrote and uploaded, as its status reports it."""

    # hex MD5 of the bytes, sent with the upload as Content-MD5: the store refuses bytes that do not
    # match it and keeps it as the object's ETag, which the podmanager checks with a HEAD
    md5: str | None = None


class RunStatusBody(msgspec.Struct, kw_only=True):
    run_id: str
    status: RunState
    round: int
    rounds: int
    counters: dict[str, float] = {}
    error: str | None = None
    artifacts: list[ArtifactDigest] = []
    engine_seconds: float = 0.0


ProgressKind = Literal["started", "round", "checkpoint", "completed", "failed", "cancelled"]

POST_PREVIEW_CHARS = 280  # a live preview's text is cut to this many characters
POST_PREVIEW_LIMIT = 5  # previews per round event


class PostPreview(msgspec.Struct, frozen=True, kw_only=True):
    """One of the newest top-level posts of a round, for live views (the full posts are in posts.json)."""

    post_id: str
    author: str  # the agent's display name
    stakeholder: str = ""  # the stakeholder the agent speaks for; empty when unknown
    text: str  # at most POST_PREVIEW_CHARS characters
    stance: float = 0.0  # in [-1, 1] toward YES on the goal
    claim_id: str = ""  # the seed claim the post argues; empty when none


class ProgressEvent(msgspec.Struct, kw_only=True):
    """One entry of GET /runs/{id}/events; `seq` starts at 1 and has no gaps."""

    seq: int
    kind: ProgressKind
    round: int = 0
    rounds: int = 0
    prices: dict[str, float] = {}
    counters: dict[str, float] = {}
    message: str | None = None
    artifacts: list[ArtifactDigest] = []
    engine_seconds: float = 0.0
    posts: list[PostPreview] = []  # kind "round": up to 5 of the round's newest top-level posts, newest first


class ProgressPage(msgspec.Struct, kw_only=True):
    events: list[ProgressEvent]
    status: RunState
