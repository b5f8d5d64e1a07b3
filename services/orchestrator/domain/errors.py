"""Domain errors of the Job aggregate: each names the rule that was broken, and the job."""

from __future__ import annotations


class JobError(Exception):
    """Base class of the Job aggregate's rule violations."""

    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(f"job {job_id} {message}")
        self.job_id = job_id


class JobAlreadyFinished(JobError):
    """A terminal job (completed, failed, cancelled) never becomes live again."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(job_id, f"is {status}; a finished job cannot change")
        self.status = status


class InvalidTransition(JobError):
    """The requested step does not follow from the job's current phase."""

    def __init__(self, job_id: str, action: str, status: str, stage: str) -> None:
        super().__init__(job_id, f"cannot {action} while {status}/{stage}")
        self.action = action


class UnknownPod(JobError):
    """A pod name this job never requested."""

    def __init__(self, job_id: str, pod_name: str) -> None:
        super().__init__(job_id, f"never requested pod {pod_name}")
        self.pod_name = pod_name


class OwnerMismatch(JobError):
    """A create retried with the same job id but another owner."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, "already exists for another owner")
