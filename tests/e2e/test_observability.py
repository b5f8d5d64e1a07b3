"""Operators can see a job (issue 10, items 1 and 2): `simswarm up` with the standard OTEL_* variables
pointing at an OTLP/HTTP receiver this test starts, and each service's Prometheus endpoint.

* One trace per job: the spans of every service (gateway, orchestrator, pod manager, pod worker,
  reporter, graph) share the trace that starts at POST /api/jobs, with parents across service
  boundaries: nobody passes trace context by hand, the bus and the HTTP instrumentation carry it.
* Every metric family shows a sensible value after the job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from simswarm.stack import free_port
from simswarm.supervisor import Supervisor
from tests.e2e.conftest import api_client
from tests.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

SEED = """The city council of Lyon voted to extend the tram line T6 to the university campus. The mayor
said construction could start next spring; opposition members questioned the budget, and residents of
the affected streets asked for a consultation before any work begins."""
QUESTION = "Will construction of the T6 extension start before June?"
SERVICES = ("gateway", "orchestrator", "podmanager", "worker", "reporter", "graph")
ROUNDS = 3


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Supervisor, OtlpReceiver, dict]]:
    """A platform of its own whose services (and pods) export spans to the receiver; one job run on it."""
    with OtlpReceiver() as rx, pytest.MonkeyPatch.context() as mp:
        mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint)
        mp.setenv("OTEL_BSP_SCHEDULE_DELAY", "300")  # export within a fraction of a second
        sup = Supervisor(home=tmp_path_factory.mktemp("traced"), port=free_port()).start(ready_timeout=180)
        try:
            with api_client(sup) as client:
                job = client.create_job(
                    SEED, QUESTION, policy="heuristic", agents=8, rounds=ROUNDS, random_seed=5
                )
                seen = [ev.type for ev in client.stream(job["job_id"])]
                assert seen[-1] == "JobCompleted", seen
            yield sup, rx, job
        finally:
            sup.stop()


def _job_trace(rx: OtlpReceiver, timeout: float = 60.0) -> tuple[str, list[ReceivedSpan]]:
    """The trace whose root is the gateway's POST /api/jobs, once it holds a span of every service and
    the parent of every span (each process exports on its own schedule: a consumer's span can arrive
    before its producer's)."""
    deadline = time.monotonic() + timeout
    trace_id, spans = "", []
    while time.monotonic() < deadline:
        all_spans = rx.snapshot()
        roots = [s for s in all_spans if s.service == "simswarm-gateway" and s.name == "POST /api/jobs"]
        if roots:
            trace_id = roots[0].trace_id
            spans = [s for s in all_spans if s.trace_id == trace_id]
            ids = {s.span_id for s in spans}
            complete = all(s.parent_span_id in ids for s in spans if s.parent_span_id)
            if complete and {s.service for s in spans} >= {f"simswarm-{name}" for name in SERVICES}:
                return trace_id, spans
        time.sleep(0.5)
    services = sorted({s.service for s in spans})
    orphans = sorted(
        {s.name for s in spans if s.parent_span_id and s.parent_span_id not in {x.span_id for x in spans}}
    )
    pytest.fail(
        f"trace {trace_id or '(no POST /api/jobs span)'} holds spans of {services}, orphans {orphans}; "
        f"{len(rx.snapshot())} spans received in all"
    )


def test_one_trace_holds_every_service_with_parents_across_boundaries(traced):
    _, rx, job = traced
    trace_id, spans = _job_trace(rx)
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if not s.parent_span_id]
    assert [r.name for r in roots] == ["POST /api/jobs"], "the job's trace has one root, the HTTP request"

    crossings: dict[str, set[str]] = {}
    for span in spans:
        parent = by_id.get(span.parent_span_id)
        if parent is not None and parent.service != span.service:
            crossings.setdefault(span.service.removeprefix("simswarm-"), set()).add(parent.service)
    for name in SERVICES[1:]:
        assert name in crossings, f"no span of {name} has a parent in another service: {crossings}"
    # The hops the issue names: NATS consumers continue the producer's span; the worker continues the
    # pod manager's HTTP call; the orchestrator's command continues the gateway's request.
    consumers = [
        s for s in spans if s.attributes.get("messaging.system") == "nats" and s.name.startswith("process ")
    ]
    assert {s.service for s in consumers} >= {
        "simswarm-orchestrator",
        "simswarm-podmanager",
        "simswarm-reporter",
        "simswarm-graph",
    }
    for span in consumers:
        parent = by_id.get(span.parent_span_id)
        assert parent is not None and parent.service != span.service, f"{span.name} in {span.service}"
    worker_roots = [
        s
        for s in spans
        if s.service == "simswarm-worker"
        and by_id.get(s.parent_span_id) is not None
        and by_id[s.parent_span_id].service == "simswarm-podmanager"
    ]
    assert worker_roots, "no worker request is a child of the pod manager's HTTP client span"
    assert any(
        s.attributes.get("db.system") == "postgresql" or s.attributes.get("db.system.name") == "postgresql"
        for s in spans
    ), "no database span from the instrumentation packages in the job's trace"
    publishes = [s for s in spans if s.name == "publish JobCompleted"]
    assert publishes and all(s.attributes.get("simswarm.job_id") == job["job_id"] for s in publishes)


def _scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(url, headers=headers, timeout=10).raise_for_status().text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def _value(samples: dict, name: str, **labels: str) -> float | None:
    for got, value in samples.get(name, []):
        if all(got.get(k) == v for k, v in labels.items()):
            return value
    return None


def test_every_metric_family_has_a_sensible_value_after_the_job(traced):
    sup, _, _ = traced
    targets = json.loads((sup.home / "metrics.json").read_text())
    assert set(targets) == {"gateway", "orchestrator", "podmanager", "reporter", "graph"}
    token = (sup.home / "metrics-token").read_text().strip()

    gateway = _scrape(f"{sup.api_url}/metrics", {"Authorization": f"Bearer {token}"})
    assert (
        _value(
            gateway,
            "simswarm_http_request_duration_seconds_count",
            service="gateway",
            method="POST",
            route="/api/jobs",
            status="201",
        )
        or 0
    ) >= 1
    assert (_value(gateway, "simswarm_gateway_jobs_created_total") or 0) >= 1

    deadline = time.monotonic() + 30  # the job and pod gauges refresh every 5 s
    while True:
        orch = _scrape(targets["orchestrator"])
        pods = _scrape(targets["podmanager"])
        if (
            (_value(orch, "simswarm_jobs", status="completed") or 0) >= 1
            and _value(pods, "simswarm_pods_alive", provider="local") == 0
            or time.monotonic() > deadline
        ):
            break
        time.sleep(1)
    assert _value(orch, "simswarm_jobs", status="completed") == 1
    assert _value(orch, "simswarm_jobs", status="running") == 0
    # (Its consumers may be one or one per partition: any whose name starts with "orchestrator".)
    assert (
        sum(
            v
            for labels, v in orch.get("simswarm_event_handling_seconds_count", [])
            if labels.get("consumer", "").startswith("orchestrator")
            and labels.get("event_type") == "RunCompleted"
            and labels.get("outcome") == "ack"
        )
        >= 1
    )
    assert any(
        labels.get("consumer", "").startswith("orchestrator")
        for labels, _ in orch.get("simswarm_consumer_pending_messages", [])
    )
    assert (_value(orch, "simswarm_events_published_total", event_type="JobCompleted") or 0) >= 1

    assert _value(pods, "simswarm_pods_alive", provider="local") == 0  # torn down after the run
    assert (_value(pods, "simswarm_pod_seconds_total", provider="local") or 0) > 0
    assert _value(pods, "simswarm_pod_cost_dollars_total", provider="local") == 0  # a local pod is free
    assert (_value(pods, "simswarm_engine_rounds_total") or 0) >= ROUNDS
    assert (_value(pods, "simswarm_engine_rounds_per_second") or 0) > 0
    assert (_value(pods, "simswarm_event_handling_seconds_count", event_type="RunRequested") or 0) >= 1

    for name, event_type in (("reporter", "ReportRequested"), ("graph", "RunCompleted")):
        samples = _scrape(targets[name])
        assert (
            _value(samples, "simswarm_event_handling_seconds_count", event_type=event_type, outcome="ack")
            or 0
        ) >= 1, name
        assert _value(samples, "simswarm_consumer_pending_messages") is not None, name
