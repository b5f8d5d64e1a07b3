"""Response shapes for the OpenAPI document (documentation only: handlers build plain dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Progress(_Open):
    round: int
    rounds: int | None
    percent: float


class PodSummary(_Open):
    provider: str | None
    pod_name: str | None
    gpu_type: str | None
    cost_per_hour: float | None
    cost: float | None


class Availability(_Open):
    count: int
    files: list[str]
    sim_data: bool
    report: bool
    graph: bool


class Job(_Open):
    job_id: str
    status: str
    stage: str
    terminal: bool
    tier: str | None
    goal: str | None
    progress: Progress
    created_at: str | None
    updated_at: str | None
    finished_at: str | None
    timings: dict[str, dict[str, Any]]
    pod: PodSummary | None
    markets: list[dict[str, Any]]
    prices: dict[str, float]
    final_prices: dict[str, float]
    verdict: str | None
    error: str | None
    artifacts: Availability
    links: dict[str, str]


class JobList(_Open):
    jobs: list[Job]
    total: int
    page: int
    per_page: int


class TimelineEvent(_Open):
    seq: int
    type: str
    occurred_at: str | None
    data: dict[str, Any]


class Timeline(_Open):
    job_id: str
    events: list[TimelineEvent]


class SimFile(_Open):
    name: str
    size: int
    sha256: str
    content_type: str
    url: str


class SimData(_Open):
    job_id: str
    expires_in: int
    files: list[SimFile]


class User(_Open):
    id: str
    email: str
    created_at: str


class AuthResult(_Open):
    user: User
    token: str
    expires_at: str


class ApiKey(_Open):
    id: str
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    expires_at: str | None


class NewApiKey(ApiKey):
    key: str


class Readiness(_Open):
    status: str
    checks: dict[str, str]


class Draft(_Open):
    draft_id: str
    spec: dict[str, Any]
    missing: list[str]
    created_at: str
    updated_at: str
    launched_job_id: str | None
    links: dict[str, str]


class DraftList(_Open):
    drafts: list[Draft]
    total: int
    page: int
    per_page: int
