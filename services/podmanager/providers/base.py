"""The provider interface: what the pod manager needs from wherever pods run."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

import msgspec

PodStatus = Literal["starting", "running", "exited", "terminated", "unknown"]


class PodInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A pod as its provider reports it. Holds no secret (the token is derived, see naming)."""

    name: str
    pod_id: str
    provider: str
    status: PodStatus
    worker_url: str | None = None
    gpu_type: str | None = None
    cost_per_hour: float | None = None
    created_at: datetime | None = None


class TerminationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What terminating a pod found: `existed=False` means it was already gone (still a success)."""

    name: str
    pod_id: str | None
    existed: bool
    billed_seconds: float | None = None
    cost: float | None = None


class WorkerEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """How to reach a pod's worker API. `token` is secret: never log or publish it."""

    base_url: str
    token: str

    def __repr__(self) -> str:  # keep the token out of tracebacks and logs
        return f"WorkerEndpoint(base_url={self.base_url!r}, token=<redacted>)"


class ProviderError(RuntimeError):
    """The provider could not do what was asked (API down, bad credentials...); the message says why."""


class PodProvisionError(ProviderError):
    """Provisioning failed for a reason retrying the same request will not fix (e.g. no GPU available)."""


class PodProvider(Protocol):
    """Where pods run. Every method is idempotent; names are the idempotency keys."""

    name: str

    async def provision(self, name: str, *, gpu_types: list[str], env: dict[str, str]) -> PodInfo:
        """Start a pod named `name`, or return the existing pod with that name."""
        ...

    async def find(self, name: str) -> PodInfo | None:
        """The pod with this name, or None."""
        ...

    async def list_pods(self) -> list[PodInfo]:
        """Every pod of this platform (name prefix `simswarm-`) the provider knows."""
        ...

    async def terminate(self, pod_id_or_name: str) -> TerminationInfo:
        """Stop and remove a pod; already gone is a success (`existed=False`)."""
        ...

    def endpoint(self, pod: PodInfo) -> WorkerEndpoint:
        """The worker's base URL and bearer token for this pod."""
        ...

    async def aclose(self) -> None:
        """Release clients; pods keep running."""
        ...


async def terminate_all(provider: PodProvider) -> list[TerminationInfo]:
    """Terminate every pod the provider lists, one after the other (a clean-up: tests, a shutdown)."""
    return [await provider.terminate(pod.name) for pod in await provider.list_pods()]
