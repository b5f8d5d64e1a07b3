"""Commands (imperatives) sent by request/reply to the orchestrator, and their replies."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts.spec import JobSpec


class CreateJob(msgspec.Struct, frozen=True, kw_only=True):
    """Create a job. `job_id` is chosen by the caller, so a retried request is idempotent."""

    job_id: str
    owner_id: str
    spec: JobSpec
    retry_of: str | None = None
    # Kept for compatibility; unread: trace context travels in the request's NATS headers.
    traceparent: str | None = None


class CancelJob(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    requested_by: str | None = None
    reason: str = "cancelled by user"
    # Kept for compatibility; unread: trace context travels in the request's NATS headers.
    traceparent: str | None = None


class LiveJobsQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which of these job ids are still live (not terminal)? Used by the pod reaper."""

    job_ids: list[str]


class CommandReply(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    job: dict[str, Any] | None = None
    error: str | None = None
    code: str | None = None  # machine code: invalid_spec, not_found, conflict, internal
    live: list[str] | None = None


class HealthQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Is the orchestrator's pipeline alive? Asked by the gateway's `/api/ready`; no fields."""


class HealthReply(msgspec.Struct, frozen=True, kw_only=True):
    """The orchestrator's own verdict on its pipeline, answered from the loop that does its work.

    `loop_ages_s`: seconds since each event-store loop (the outbox relay, the `jobs` projection) last
    completed a pass; `oldest_work_s`: how long the oldest command or inbound event in progress has run.
    """

    ok: bool
    problems: list[str] = msgspec.field(default_factory=list)
    loop_ages_s: dict[str, float] = msgspec.field(default_factory=dict)
    oldest_work_s: float | None = None
    in_progress: int = 0
