"""The orchestrator's inbound events, partitioned by job id, so it advances different jobs at once.

The server copies the events the saga reacts to from the job stream into the orchestrator's own
stream (`contracts.subjects.ORCH_INBOUND_STREAM`), rewriting each subject with a partition token
computed from the job id by NATS itself (`{{partition(n,1)}}`, a stable hash):

    simswarm.job.<job>.<Type>  ->  simswarm-in-<consumer>.<partition>.<job>.<Type>

Each partition has its own durable consumer (`<consumer>-p<k>`, `max_ack_pending=1`) and its own
tracking position (`jetstream:<consumer>-p<k>`), shared by every replica: at most one message of a
partition is in flight across all of them, so a job's events are handled one at a time and in order,
while the partitions go on side by side. Why this keeps exactly-once: docs/orchestrator.md#partitions.
"""

from __future__ import annotations

import logging
import re

import nats.js.errors
from nats.js import api

from contracts.subjects import JOB_STREAM, JOB_SUBJECT_PREFIX, ORCH_INBOUND_STREAM
from services.kit.bus import Bus

log = logging.getLogger(__name__)

DEFAULT_CONSUMER = "orchestrator"


def stream_name(consumer: str) -> str:
    """The production consumer's stream is `ORCH_INBOUND_STREAM` (what NATS permissions name);
    another consumer name (tests) gets a stream of its own."""
    if consumer == DEFAULT_CONSUMER:
        return ORCH_INBOUND_STREAM
    return f"{ORCH_INBOUND_STREAM}_{re.sub(r'[^A-Za-z0-9_-]', '_', consumer).upper()}"


def subject_prefix(consumer: str) -> str:
    return f"simswarm-in-{re.sub(r'[^A-Za-z0-9_-]', '_', consumer)}"


def partition_filter(consumer: str, k: int) -> str:
    return f"{subject_prefix(consumer)}.{k}.>"


def durable(consumer: str, k: int) -> str:
    return f"{consumer}-p{k}"


def upstream(consumer: str, k: int) -> str:
    """The tracking name of partition `k`: positions are its own stream sequences, in order."""
    return f"jetstream:{durable(consumer, k)}"


def stream_config(
    consumer: str, partitions: int, event_types: list[str], *, replicas: int = 1, start_seq: int | None = None
) -> api.StreamConfig:
    """A stream with no subjects of its own, sourced from the job stream through one subject
    transform per event type the saga reacts to."""
    prefix = subject_prefix(consumer)
    transforms = [
        api.SubjectTransform(
            src=f"{JOB_SUBJECT_PREFIX}.*.{t}",
            dest=f"{prefix}.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}.{t}",
        )
        for t in event_types
    ]
    source = api.StreamSource(
        name=JOB_STREAM,
        subject_transforms=transforms,
        opt_start_seq=start_seq if start_seq and start_seq > 1 else None,
    )
    return api.StreamConfig(
        name=stream_name(consumer),
        sources=[source],
        num_replicas=replicas,
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        # The job stream is the record; this copy only has to outlive a consumer's backlog.
        max_age=7 * 24 * 3600.0,
        description=f"The events {consumer} reacts to, partitioned by job id ({partitions} partitions).",
    )


async def ensure_stream(
    bus: Bus,
    consumer: str,
    partitions: int,
    event_types: list[str],
    *,
    replicas: int = 1,
    deliver_new: bool = False,
) -> str:
    """Create the inbound stream once (idempotent; a running one is kept as it is). A new stream
    starts where the single, unpartitioned consumer of older versions stopped (its ack floor), or at
    the job stream's end with `deliver_new` (tests), or at its start. Returns the stream's name."""
    name = stream_name(consumer)
    try:
        info = await bus.js.stream_info(name)
    except nats.js.errors.NotFoundError:
        info = None
    if info is not None:
        have = info.config.description or ""
        if f"({partitions} partitions)" not in have:
            log.warning("stream %s exists with another partition count (%s); keeping it", name, have)
        return name
    start: int | None = None
    if deliver_new:
        start = int((await bus.js.stream_info(JOB_STREAM)).state.last_seq) + 1
    else:
        try:
            legacy = await bus.js.consumer_info(JOB_STREAM, consumer)
            start = int(legacy.ack_floor.stream_seq) + 1 if legacy.ack_floor else None
            log.info(
                "partitioning from job stream seq %s (after the unpartitioned consumer %s)", start, consumer
            )
        except nats.js.errors.NotFoundError:
            start = None
    cfg = stream_config(consumer, partitions, event_types, replicas=replicas, start_seq=start)
    try:
        await bus.js.add_stream(cfg)
    except nats.js.errors.BadRequestError as exc:  # another replica created it a moment ago
        log.info("stream %s: %s; using the existing one", name, exc)
    return name
