"""Response shapes for the OpenAPI document (documentation only: handlers build plain dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """Open to fields added later (old clients keep working); the SDK (simswarm.client) parses with these."""

    model_config = ConfigDict(extra="allow")

    def __getitem__(self, name: str) -> Any:
        """`job["status"]` as well as `job.status`: scripts written against plain dicts keep working."""
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)


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
    retry_of: str | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="Once complete: the structured result (schema JobResult, from result.json)"
    )


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
    email_verified: bool = False


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


class GraphNode(_Open):
    id: str
    label: str
    kind: str
    props: dict[str, Any]


class GraphEdge(_Open):
    source: str
    target: str
    type: str
    weight: float


class JobGraph(_Open):
    job_id: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = Field(description="True when the graph was larger than the caps and was cut down")
    total_nodes: int
    total_edges: int
    counts: dict[str, int]


class FetchResult(_Open):
    text: str = Field(description="The page's readable text, at most 50,000 characters (a seed's maximum)")
    char_count: int
    source_url: str = Field(description="The URL the text came from (after redirects)")
    title: str | None = None
    truncated: bool = Field(description="True when the page's text was longer than a seed may be")


class GoalResult(_Open):
    goal: str


class Share(_Open):
    job_id: str
    share_token: str = Field(description="Shown this once; only its hash is stored")
    share_url: str = Field(description="The web app's page of the shared job")
    api_url: str = Field(description="The public JSON of the shared job")
    og_url: str = Field(description="The OpenGraph HTML page of the shared job (what link previews read)")


class SharedJob(_Open):
    job_id: str
    status: str
    goal: str | None
    tier: str | None
    agents: int | None
    rounds: int | None
    created_at: str | None
    finished_at: str | None
    markets: list[dict[str, Any]]
    final_prices: dict[str, float]
    verdict: str | None
    result: dict[str, Any] | None = Field(description="The structured result (schema JobResult)")
    links: dict[str, str]


class DemoJob(SharedJob):
    share_token: str


class DemoList(_Open):
    demos: list[DemoJob]


class TierInfo(_Open):
    agents: int
    rounds: int
    max_agents: int
    max_rounds: int
    max_forecast_days: int
    max_markets: int
    default_policy: str
    timeout_s: int


class PublicConfig(_Open):
    demo_mode: bool
    registration: bool
    job_creation: bool
    policies: list[str] = Field(
        description="Policies this server can run: heuristic always, llm with a model server"
    )
    tiers: dict[str, TierInfo]
    limits: dict[str, Any]
    mail: str = Field(description="`smtp` when mail is sent, `log` when it is written to the gateway's log")


class Accepted(_Open):
    status: str
    detail: str
