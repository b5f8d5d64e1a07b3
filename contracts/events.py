"""Domain events of a job's life: the versioned contract other systems subscribe to.

Each event, its producer and consumers: docs/events.md; the flow: docs/architecture.md §3.

Every event carries the envelope: `event_id`, `type` (the tag), `version`, `job_id`, `occurred_at`,
`causation_id`, `correlation_id`, `traceparent`. Adding optional fields is compatible; renaming is not.
Secrets (tokens, presigned URLs, keys) never appear here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, Union

import msgspec

from contracts.artifacts import ArtifactRef
from contracts.spec import JobSpec, ResolvedRun
from contracts.worker import PostPreview

EVENT_NAMESPACE = uuid.UUID("7d1c2f0e-5b0a-4c39-9a59-6a8f1e0b5c11")


def deterministic_event_id(job_id: str, *parts: object) -> str:
    """A stable id for an event a consumer may emit twice (retries, redelivery): same parts, same id.

    Used as `Nats-Msg-Id`, so JetStream drops the repeat within its duplicate window.
    """
    return str(uuid.uuid5(EVENT_NAMESPACE, "/".join([job_id, *map(str, parts)])))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True):
    """The envelope. Subclasses are tagged by class name in the `type` field."""

    event_id: str
    job_id: str
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    version: int = 1

    terminal: ClassVar[bool] = False

    @property
    def type(self) -> str:
        return type(self).__name__


# -- the job -------------------------------------------------------------------------------------


class JobCreated(Event, frozen=True, kw_only=True):
    owner_id: str
    spec: JobSpec
    run: ResolvedRun
    retry_of: str | None = None


class JobCancellationRequested(Event, frozen=True, kw_only=True):
    requested_by: str | None = None
    reason: str = "cancelled by user"


class JobCompleted(Event, frozen=True, kw_only=True):
    terminal: ClassVar[bool] = True
    final_prices: dict[str, float] = {}
    verdict: str | None = None
    report_key: str | None = None


class JobFailed(Event, frozen=True, kw_only=True):
    terminal: ClassVar[bool] = True
    reason: str
    stage: str


class JobCancelled(Event, frozen=True, kw_only=True):
    terminal: ClassVar[bool] = True
    reason: str = "cancelled by user"


# -- pods ----------------------------------------------------------------------------------------


class PodEvent(Event, frozen=True, kw_only=True):
    """An event about the pod of one attempt (not an event type of its own)."""

    attempt: int
    pod_name: str  # simswarm-<job_id>-a<attempt>: the provider's key for the pod


class PodRequested(PodEvent, frozen=True, kw_only=True):
    gpu_types: list[str]
    model: str
    policy: str


class PodProvisioned(PodEvent, frozen=True, kw_only=True):
    pod_id: str
    provider: str
    gpu_type: str | None = None
    cost_per_hour: float | None = None


class PodProvisionFailed(PodEvent, frozen=True, kw_only=True):
    reason: str


class PodReady(PodEvent, frozen=True, kw_only=True):
    pod_id: str


class PodUnhealthy(PodEvent, frozen=True, kw_only=True):
    pod_id: str | None
    reason: str


class PodTeardownRequested(PodEvent, frozen=True, kw_only=True):
    pod_id: str | None
    reason: str


class PodTerminated(PodEvent, frozen=True, kw_only=True):
    pod_id: str | None
    billed_seconds: float | None = None
    cost: float | None = None


class StrayPodReaped(Event, frozen=True, kw_only=True):
    """The reaper found a pod with no live job and terminated it."""

    pod_name: str
    pod_id: str
    provider: str
    reason: str


# -- the run -------------------------------------------------------------------------------------


class RunRequested(Event, frozen=True, kw_only=True):
    """Everything the podmanager needs to run the job on the pod: it never reads JobCreated back.

    `spec` and `run` are None only in RunRequested events published before they were carried; the
    podmanager fails such a run as retryable, so the retry's RunRequested carries them
    (docs/events.md#runrequested).
    """

    attempt: int
    run_id: str
    pod_name: str
    artifact_prefix: str
    resume_from: str | None = None  # object key of a checkpoint
    spec: JobSpec | None = None
    run: ResolvedRun | None = None


class RunEvent(Event, frozen=True, kw_only=True):
    """An event about one run, once the podmanager follows it (not an event type of its own)."""

    run_id: str  # <job_id>-a<attempt>


class RunStarted(RunEvent, frozen=True, kw_only=True):
    attempt: int
    agents: int
    rounds: int


class RunProgressed(RunEvent, frozen=True, kw_only=True):
    round: int
    rounds: int
    prices: dict[str, float] = {}
    counters: dict[str, float] = {}
    posts: list[PostPreview] = []  # up to 5 of the round's newest top-level posts, newest first


class RunCheckpointed(RunEvent, frozen=True, kw_only=True):
    round: int
    checkpoint_key: str


class RunCompleted(RunEvent, frozen=True, kw_only=True):
    artifact_prefix: str
    artifacts: list[ArtifactRef]
    final_prices: dict[str, float] = {}
    engine_seconds: float = 0.0
    counters: dict[str, float] = {}


class RunFailed(RunEvent, frozen=True, kw_only=True):
    reason: str
    retryable: bool = False


# -- report and graph ----------------------------------------------------------------------------


class ReportRequested(Event, frozen=True, kw_only=True):
    artifact_prefix: str
    artifacts: list[ArtifactRef]


class ReportWritten(Event, frozen=True, kw_only=True):
    report_key: str
    artifacts: list[ArtifactRef]
    verdict: str | None = None
    summary: str = ""


class ReportFailed(Event, frozen=True, kw_only=True):
    reason: str


class GraphBuilt(Event, frozen=True, kw_only=True):
    graph_key: str
    nodes: int
    edges: int
    neo4j: bool = False


class GraphFailed(Event, frozen=True, kw_only=True):
    reason: str


AnyEvent = Union[  # noqa: UP007 - msgspec needs a real Union of tagged Structs
    JobCreated,
    JobCancellationRequested,
    JobCompleted,
    JobFailed,
    JobCancelled,
    PodRequested,
    PodProvisioned,
    PodProvisionFailed,
    PodReady,
    PodUnhealthy,
    PodTeardownRequested,
    PodTerminated,
    StrayPodReaped,
    RunRequested,
    RunStarted,
    RunProgressed,
    RunCheckpointed,
    RunCompleted,
    RunFailed,
    ReportRequested,
    ReportWritten,
    ReportFailed,
    GraphBuilt,
    GraphFailed,
]

EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in AnyEvent.__args__}  # type: ignore[attr-defined]
TERMINAL_EVENTS = frozenset(name for name, cls in EVENT_TYPES.items() if cls.terminal)

_decoder = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder()

E = TypeVar("E", bound=Event)


class MalformedEvent(ValueError):
    """Bytes on the bus that are not a valid event of this contract."""


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes) -> AnyEvent:
    try:
        return _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise MalformedEvent(str(exc)) from exc


def new_event(
    cls: type[E],
    job_id: str,
    *,
    cause: Event | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    **fields: Any,
) -> E:
    """Build an event with its envelope; `cause` supplies causation and correlation.

    Not trace context: `traceparent` is left empty and filled at publish from the span the publisher
    runs in (services/kit/bus.py), so each hop continues the trace instead of repeating the cause's.
    """
    return cls(
        event_id=event_id or str(uuid.uuid4()),
        job_id=job_id,
        occurred_at=occurred_at or utcnow(),
        correlation_id=cause.correlation_id if cause else job_id,
        causation_id=cause.event_id if cause else None,
        **fields,
    )
