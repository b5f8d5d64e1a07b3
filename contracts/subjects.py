"""Subject names and stream definitions: the one place they are spelled out."""

from __future__ import annotations

import msgspec

JOB_STREAM = "SIMSWARM_JOBS"
JOB_SUBJECT_PREFIX = "simswarm.job"
DEADLETTER_STREAM = "SIMSWARM_DEADLETTER"
DEADLETTER_PREFIX = "simswarm.deadletter"
# The orchestrator's own copy of the events it reacts to, partitioned by job id (sourced from the job
# stream by the server: docs/orchestrator.md#partitions). Internal: no other service reads it.
ORCH_INBOUND_STREAM = "SIMSWARM_ORCH_IN"

# Request/reply commands to the orchestrator (core NATS, queue group "orchestrator").
CMD_CREATE_JOB = "simswarm.cmd.job.create"
CMD_CANCEL_JOB = "simswarm.cmd.job.cancel"
CMD_LIVE_JOBS = "simswarm.cmd.job.live"
# The orchestrator's pipeline health (HealthQuery -> HealthReply), asked by the gateway's /api/ready.
CMD_ORCHESTRATOR_HEALTH = "simswarm.cmd.orchestrator.health"
ORCHESTRATOR_QUEUE = "orchestrator"

# A job's events may be replayed for a long while: keep them. Duplicates from a restarted relay or
# consumer are dropped within this window (seconds).
JOB_STREAM_DUPLICATE_WINDOW_S = 2 * 3600


def job_subject(job_id: str, event_type: str) -> str:
    return f"{JOB_SUBJECT_PREFIX}.{job_id}.{event_type}"


def job_filter(job_id: str) -> str:
    """All events of one job."""
    return job_subject(job_id, ">")


def event_filter(event_type: str) -> str:
    """All jobs' events of one type."""
    return job_subject("*", event_type)


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


# -- who may say what on NATS: one user per service, derived from the subjects above -------------
# The embedded stack renders these into nats-server's `authorization` block, and docs/security.md
# ("Credentials") describes them; a production NATS is configured from the same function
# (`simswarm nats-config`). A service that publishes a subject outside its own list is refused by
# the server (a permissions violation), so no service can speak for another.

NATS_ADMIN = "admin"
"""Full access: the operator's maintenance user (streams, tests that play any part)."""

NATS_OPERATOR = "operator"
"""Read-only: `simswarm events`, replaying a job's events and reading dead letters."""

# The job events each service emits, by the service's NATS user. Every event type has one author.
EVENT_PUBLISHERS: dict[str, tuple[str, ...]] = {
    "orchestrator": (
        "JobCreated",
        "JobCancellationRequested",
        "JobCompleted",
        "JobFailed",
        "JobCancelled",
        "PodRequested",
        "PodTeardownRequested",
        "RunRequested",
        "ReportRequested",
    ),
    "podmanager": (
        "PodProvisioned",
        "PodProvisionFailed",
        "PodReady",
        "PodUnhealthy",
        "PodTerminated",
        "StrayPodReaped",
        "RunStarted",
        "RunProgressed",
        "RunCheckpointed",
        "RunCompleted",
        "RunFailed",
    ),
    "reporter": ("ReportWritten", "ReportFailed"),
    "graph": ("GraphBuilt", "GraphFailed"),
}

# Core request/reply commands: who sends them; the orchestrator answers every one.
ORCHESTRATOR_COMMANDS: tuple[str, ...] = (
    CMD_CREATE_JOB,
    CMD_CANCEL_JOB,
    CMD_LIVE_JOBS,
    CMD_ORCHESTRATOR_HEALTH,
)
COMMAND_SENDERS: dict[str, tuple[str, ...]] = {
    "gateway": (CMD_CREATE_JOB, CMD_CANCEL_JOB, CMD_LIVE_JOBS, CMD_ORCHESTRATOR_HEALTH),
    "podmanager": (CMD_LIVE_JOBS,),  # the reaper asks which jobs are live
}

SERVICE_USERS: tuple[str, ...] = ("gateway", "orchestrator", "podmanager", "reporter", "graph")
NATS_USERS: tuple[str, ...] = (*SERVICE_USERS, NATS_OPERATOR, NATS_ADMIN)


class NatsPermissions(msgspec.Struct, frozen=True, kw_only=True):
    """One NATS user's allow-lists (everything else is denied) and its private reply inbox."""

    user: str
    publish: list[str]
    subscribe: list[str]
    allow_responses: bool = False  # may answer the requests it receives (the orchestrator's commands)

    @property
    def inbox_prefix(self) -> str:
        """Replies to this user's requests (JetStream API included) arrive under here, and only it reads them."""
        return inbox_prefix(self.user)


def inbox_prefix(user: str) -> str:
    return f"_INBOX.{user}"


def nats_permissions(user: str) -> NatsPermissions:
    """The subjects `user` may publish and subscribe, JetStream API subjects included."""
    if user not in NATS_USERS:
        raise ValueError(f"unknown NATS user {user!r}; known: {', '.join(NATS_USERS)}")
    if user == NATS_ADMIN:
        return NatsPermissions(user=user, publish=[">"], subscribe=[">"], allow_responses=True)
    api = "$JS.API"
    streams = [d.name for d in STREAMS]
    readable = [JOB_STREAM, DEADLETTER_STREAM] if user == NATS_OPERATOR else [JOB_STREAM]
    publish = [f"{api}.INFO", *(f"{api}.STREAM.INFO.{s}" for s in streams)]
    for s in readable:
        publish += [
            f"{api}.STREAM.MSG.GET.{s}",
            f"{api}.DIRECT.GET.{s}",
            f"{api}.DIRECT.GET.{s}.>",
            # consumers: create (named, filtered, ephemeral), look up, fetch, ack/nak/in-progress, flow control
            f"{api}.CONSUMER.CREATE.{s}",
            f"{api}.CONSUMER.CREATE.{s}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{s}.>",
            f"{api}.CONSUMER.INFO.{s}.>",
            f"{api}.CONSUMER.MSG.NEXT.{s}.>",
            f"$JS.ACK.{s}.>",
            f"$JS.FC.{s}.>",
        ]
    subscribe = [f"{inbox_prefix(user)}.>"]
    if user in ("gateway", NATS_OPERATOR):
        # readers create short-lived consumers per request and delete them when the reader leaves
        publish += [f"{api}.CONSUMER.DELETE.{s}.>" for s in readable]
    if user != NATS_OPERATOR:
        # creating a missing stream is harmless (a stream that exists with another config is refused);
        # changing one is the orchestrator's alone: it owns the log.
        publish += [f"{api}.STREAM.CREATE.{s}" for s in streams]
    if user == "orchestrator":
        publish += [f"{api}.STREAM.UPDATE.{s}" for s in streams]
        inbound = ORCH_INBOUND_STREAM  # its partitioned inbound stream: create, update, read, consume
        publish += [
            f"{api}.STREAM.CREATE.{inbound}",
            f"{api}.STREAM.UPDATE.{inbound}",
            f"{api}.STREAM.INFO.{inbound}",
            f"{api}.CONSUMER.CREATE.{inbound}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{inbound}.>",
            f"{api}.CONSUMER.INFO.{inbound}.>",
            f"{api}.CONSUMER.MSG.NEXT.{inbound}.>",
            f"$JS.ACK.{inbound}.>",
        ]
        subscribe += list(ORCHESTRATOR_COMMANDS)
    publish += [event_filter(t) for t in EVENT_PUBLISHERS.get(user, ())]
    publish += list(COMMAND_SENDERS.get(user, ()))
    if user in EVENT_PUBLISHERS:
        # consumers set aside what they cannot process, and hear when the server gives up on a message
        publish.append(f"{DEADLETTER_PREFIX}.>")
        subscribe.append(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOB_STREAM}.>")
    return NatsPermissions(
        user=user, publish=publish, subscribe=subscribe, allow_responses=user == "orchestrator"
    )
