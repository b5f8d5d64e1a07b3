"""Domain errors of the Job aggregate: each names the rule that was broken."""

from __future__ import annotations


class JobError(Exception):
    """Base class of the Job aggregate's rule violations."""


class JobAlreadyFinished(JobError):
    """A terminal job (completed, failed, cancelled) never becomes live again."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id} is {status}; a finished job cannot change")
        self.job_id = job_id
        self.status = status


class InvalidTransition(JobError):
    """The requested step does not follow from the job's current phase."""

    def __init__(self, job_id: str, action: str, status: str, stage: str) -> None:
        super().__init__(f"job {job_id}: cannot {action} while {status}/{stage}")
        self.job_id = job_id
        self.action = action


class UnknownPod(JobError):
    """A pod name this job never requested."""

    def __init__(self, job_id: str, pod_name: str) -> None:
        super().__init__(f"job {job_id} never requested pod {pod_name}")
        self.job_id = job_id
        self.pod_name = pod_name


class OwnerMismatch(JobError):
    """A create retried with the same job id but another owner."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} already exists for another owner")
        self.job_id = job_id
