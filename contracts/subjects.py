"""Subject names and stream definitions: the one place they are spelled out."""

from __future__ import annotations

import msgspec

JOB_STREAM = "SIMSWARM_JOBS"
JOB_SUBJECT_PREFIX = "simswarm.job"
DEADLETTER_STREAM = "SIMSWARM_DEADLETTER"
DEADLETTER_PREFIX = "simswarm.deadletter"

# Request/reply commands to the orchestrator (core NATS, queue group "orchestrator").
CMD_CREATE_JOB = "simswarm.cmd.job.create"
CMD_CANCEL_JOB = "simswarm.cmd.job.cancel"
CMD_LIVE_JOBS = "simswarm.cmd.job.live"
ORCHESTRATOR_QUEUE = "orchestrator"

# A job's events may be replayed for a long while: keep them. Duplicates from a restarted relay or
# consumer are dropped within this window (seconds).
JOB_STREAM_DUPLICATE_WINDOW_S = 2 * 3600


def job_subject(job_id: str, event_type: str) -> str:
    return f"{JOB_SUBJECT_PREFIX}.{job_id}.{event_type}"


def job_filter(job_id: str) -> str:
    return f"{JOB_SUBJECT_PREFIX}.{job_id}.>"


def event_filter(event_type: str) -> str:
    """All jobs' events of one type."""
    return f"{JOB_SUBJECT_PREFIX}.*.{event_type}"


def deadletter_subject(service: str) -> str:
    return f"{DEADLETTER_PREFIX}.{service}"


class StreamDef(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    subjects: list[str]
    duplicate_window_s: float
    max_age_s: float = 0  # 0: keep forever
    description: str = ""


STREAMS: tuple[StreamDef, ...] = (
    StreamDef(
        name=JOB_STREAM,
        subjects=[f"{JOB_SUBJECT_PREFIX}.>"],
        duplicate_window_s=JOB_STREAM_DUPLICATE_WINDOW_S,
        description="Every domain event of every job: the contract other systems subscribe to.",
    ),
    StreamDef(
        name=DEADLETTER_STREAM,
        subjects=[f"{DEADLETTER_PREFIX}.>"],
        duplicate_window_s=120,
        max_age_s=30 * 24 * 3600,
        description="Messages a service could not process (malformed, or past max deliveries).",
    ),
)
