"""Prometheus metrics (prometheus_client): the families every service records, and its one endpoint.

The families live in the default registry, created once at import, so any number of apps or buses in
one process (the tests) share them. A service exposes them on one endpoint: the gateway at its
`/metrics` route (behind the operator's token), every other service on prometheus_client's HTTP
server when `SIMSWARM_METRICS_PORT` is set (bound to `SIMSWARM_METRICS_HOST`, 127.0.0.1 by default).
The families and their meaning are listed in docs/operations.md#metrics.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest, start_http_server

log = logging.getLogger(__name__)

# Buckets from 1 ms to 1 min: an orchestrator hop is milliseconds, a report or a provision is seconds.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUEST_SECONDS = Histogram(
    "simswarm_http_request_duration_seconds",
    "HTTP requests answered, by method, route template and status.",
    ["service", "method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
EVENT_HANDLING_SECONDS = Histogram(
    "simswarm_event_handling_seconds",
    "Time a consumer spent handling one event, by outcome (ack, retry, dead_letter).",
    ["consumer", "event_type", "outcome"],
    buckets=_LATENCY_BUCKETS,
)
CONSUMER_PENDING = Gauge(
    "simswarm_consumer_pending_messages",
    "Messages of the stream not yet delivered to the consumer (num_pending).",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "simswarm_consumer_ack_pending_messages",
    "Messages delivered to the consumer and not yet acknowledged.",
    ["consumer"],
)
EVENTS_PUBLISHED = Counter(
    "simswarm_events_published_total",
    "Domain events published to JetStream (duplicates dropped by the stream included).",
    ["event_type"],
)
JOBS = Gauge("simswarm_jobs", "Jobs in the read model by status.", ["status"])
PODS_ALIVE = Gauge(
    "simswarm_pods_alive",
    "Pods the pod manager knows to be alive (provisioned, not terminated).",
    ["provider"],
)
POD_SECONDS = Counter(
    "simswarm_pod_seconds_total", "Pod time billed, summed when each pod is terminated.", ["provider"]
)
POD_COST = Counter(
    "simswarm_pod_cost_dollars_total",
    "Pod cost in US dollars, summed when each pod is terminated.",
    ["provider"],
)
ENGINE_ROUNDS = Counter(
    "simswarm_engine_rounds_total", "Simulation rounds completed, as reported by runs' progress."
)
ENGINE_ROUNDS_PER_SECOND = Gauge(
    "simswarm_engine_rounds_per_second", "Rounds per second of the engine in the most recently completed run."
)
OPEN_STREAMS = Gauge("simswarm_gateway_open_streams", "SSE streams open now.")
JOBS_CREATED = Counter(
    "simswarm_gateway_jobs_created_total", "Jobs accepted by the orchestrator through the gateway."
)


def render() -> bytes:
    """Every family in the text exposition format (the gateway's /metrics body)."""
    return generate_latest(REGISTRY)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> bool:
    """Serve the families on `host:port` (prometheus_client's HTTP server, a daemon thread);
    0 means off. Returns whether it started."""
    if not port:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:  # metrics are not worth failing the service for: say so and go on
        log.error("metrics endpoint %s:%d could not be opened: %s", host, port, exc)
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True
