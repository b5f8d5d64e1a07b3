"""The Job's fixed rules and names: attempts, timers, and the deterministic ids of its side effects."""

from __future__ import annotations

import uuid
from datetime import timedelta

JOB_NAMESPACE = uuid.UUID("0b8f3c4e-2d6a-4f51-9c1e-5a7d2e9b4f60")
MAX_ATTEMPTS = 2
DEADLINE_SLACK = timedelta(minutes=20)
TEARDOWN_RETRY_AFTER = timedelta(minutes=5)
TEARDOWN_MAX_REQUESTS = 3
WATCHDOGS: dict[str, timedelta] = {
    "provisioning": timedelta(minutes=15),
    "health": timedelta(minutes=15),
    "starting": timedelta(minutes=15),
    "running": timedelta(minutes=20),  # no progress for this long: stuck
    "reporting": timedelta(minutes=20),
}
POD_LIVE_STATES = frozenset({"requested", "provisioned", "ready", "teardown"})


def job_uuid(job_id: str) -> uuid.UUID:
    """The aggregate id of a job: the job id itself when it is a UUID, else a uuid5 of it."""
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return uuid.uuid5(JOB_NAMESPACE, job_id)


def pod_name_for(job_id: str, attempt: int) -> str:
    """The idempotency key of provisioning (docs/architecture.md): one name per job and attempt."""
    return f"simswarm-{job_id}-a{attempt}"


def run_id_for(job_id: str, attempt: int) -> str:
    return f"{job_id}-a{attempt}"
