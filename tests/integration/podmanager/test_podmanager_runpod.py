"""The RunPod provider against a test double that speaks RunPod's GraphQL protocol over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.podmanager.naming import pod_name, pod_token
from services.podmanager.providers.base import PodProvisionError, ProviderError
from services.podmanager.providers.runpod import LIST_PODS, RunPodProvider
from tests.fakes.runpod_api import FakeRunPodAPI

pytestmark = pytest.mark.integration

SECRET = "test-secret"
L40S, H100 = "NVIDIA L40S", "NVIDIA H100 80GB HBM3"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeRunPodAPI]:
    async with FakeRunPodAPI(capacity={L40S: 1, H100: 1}) as fake:
        yield fake


@pytest_asyncio.fixture
async def provider(api: FakeRunPodAPI) -> AsyncIterator[RunPodProvider]:
    p = RunPodProvider(api_url=api.url, api_key=api.api_key, secret=SECRET, image="simswarm/pod:test")
    try:
        yield p
    finally:
        await p.aclose()


async def test_provision_is_idempotent_by_name(provider: RunPodProvider, api: FakeRunPodAPI) -> None:
    name = pod_name("rpjob1", 1)
    first = await provider.provision(name, gpu_types=[L40S, H100], env={"SIMSWARM_MODEL": "m"})
    again = await provider.provision(name, gpu_types=[L40S, H100], env={"SIMSWARM_MODEL": "m"})
    assert first.pod_id == again.pod_id and len(api.pods) == 1
    assert first.gpu_type == L40S and first.cost_per_hour == pytest.approx(0.86)
    assert first.worker_url == f"https://{first.pod_id}-8081.proxy.runpod.net"
    env = api.pods[first.pod_id]["env"]
    # the token reaches the pod through its environment, derived from the secret and the name
    assert f"SIMSWARM_POD_TOKEN={pod_token(SECRET, name)}" in env and "SIMSWARM_MODEL=m" in env
    assert provider.endpoint(first).token == pod_token(SECRET, name)
    found = await provider.find(name)
    assert found is not None and found.pod_id == first.pod_id and found.status == "running"


async def test_list_only_ours_and_terminate_idempotently(
    provider: RunPodProvider, api: FakeRunPodAPI
) -> None:
    ours = await provider.provision(pod_name("rpjob2", 1), gpu_types=[H100], env={})
    api.pods["foreign"] = {**api.pods[ours.pod_id], "id": "foreign", "name": "someone-else"}
    assert [p.name for p in await provider.list_pods()] == [ours.name]
    done = await provider.terminate(ours.name)
    assert done.existed and done.pod_id == ours.pod_id and done.billed_seconds is not None
    assert ours.pod_id not in api.pods and await provider.find(ours.name) is None
    again = await provider.terminate(ours.name)
    assert not again.existed
    assert api.capacity[H100] == 1  # the GPU went back


async def test_falls_back_across_gpu_types_then_fails_clearly(provider: RunPodProvider) -> None:
    a = await provider.provision(pod_name("rpjob3", 1), gpu_types=[L40S, H100], env={})
    b = await provider.provision(pod_name("rpjob4", 1), gpu_types=[L40S, H100], env={})
    assert (a.gpu_type, b.gpu_type) == (L40S, H100)
    with pytest.raises(PodProvisionError, match="no GPU available: none of NVIDIA L40S, NVIDIA H100"):
        await provider.provision(pod_name("rpjob5", 1), gpu_types=[L40S, H100], env={})


async def test_bad_api_key_is_a_clear_error(api: FakeRunPodAPI) -> None:
    p = RunPodProvider(api_url=api.url, api_key="wrong", secret=SECRET, image="x")
    try:
        with pytest.raises(ProviderError, match="rejected the API key"):
            await p.list_pods()
    finally:
        await p.aclose()


async def test_fake_speaks_the_sdk_protocol(api: FakeRunPodAPI) -> None:
    """The query text the runpod SDK sends, with the api_key query parameter, is answered in kind."""
    from runpod.api.mutations.pods import generate_pod_deployment_mutation
    from runpod.api.queries.pods import QUERY_POD

    async with httpx.AsyncClient() as http:
        url = f"{api.url}?api_key={api.api_key}"
        deploy = generate_pod_deployment_mutation(
            name="simswarm-sdk-a1", image_name="img", gpu_type_id=L40S, env={"A": "1"}
        )
        created = (await http.post(url, json={"query": deploy})).json()
        assert "errors" not in created, created
        assert created["data"]["podFindAndDeployOnDemand"]["id"]
        listed = (await http.post(url, json={"query": QUERY_POD})).json()
        assert [p["name"] for p in listed["data"]["myself"]["pods"]] == ["simswarm-sdk-a1"]
        ours = (await http.post(url, json={"query": LIST_PODS})).json()
        assert ours["data"]["myself"]["pods"][0]["runtime"]["uptimeInSeconds"] >= 0


async def test_a_pod_gets_the_otel_variables_and_the_context_that_provisioned_it(
    api: FakeRunPodAPI, bus: Any, store: Any, pg_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RunPod pod's environment holds the pod manager's OTEL_* variables (all but its service name)
    and, as TRACEPARENT, the trace context it was provisioned in: the pod reports into the job's trace."""
    from opentelemetry import context, trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    from contracts.events import PodRequested, new_event
    from services.podmanager.handlers import PodManager
    from services.podmanager.pods_repo import PodRepository

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "simswarm-podmanager")
    provider = RunPodProvider(api_url=api.url, api_key=api.api_key, secret=SECRET, image="x")
    manager = PodManager(bus=bus, store=store, pods=PodRepository(pg_pool), provider=provider)
    job = uuid.uuid4().hex
    request = new_event(
        PodRequested, job, attempt=1, pod_name=pod_name(job, 1), gpu_types=[H100], model="m", policy="llm"
    )
    handling = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(handling)))
    try:
        pod = await provider.provision(request.pod_name, gpu_types=[H100], env=manager.pod_env(request))
    finally:
        context.detach(token)
        await manager.aclose()
        await provider.aclose()
    env = dict(entry.split("=", 1) for entry in api.pods[pod.pod_id]["env"])
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://collector.example:4318"
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    assert "OTEL_SERVICE_NAME" not in env  # the worker names itself
    assert env["TRACEPARENT"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert env["SIMSWARM_JOB_ID"] == job and env["SIMSWARM_POD_TOKEN"] == pod_token(SECRET, pod.name)


async def test_no_gpu_anywhere_becomes_pod_provision_failed(
    api: FakeRunPodAPI, bus: Any, store: Any, pg_pool: Any
) -> None:
    """Through the handler: RunPod has no capacity -> PodProvisionFailed with the reason, no pod."""
    from contracts.events import PodRequested, new_event
    from services.podmanager.handlers import PodManager
    from services.podmanager.pods_repo import PodRepository

    api.capacity = {L40S: 0, H100: 0}
    provider = RunPodProvider(api_url=api.url, api_key=api.api_key, secret=SECRET, image="x")
    repo = PodRepository(pg_pool)
    await repo.migrate()
    manager = PodManager(bus=bus, store=store, pods=repo, provider=provider)
    job = uuid.uuid4().hex
    try:
        await manager.on_pod_requested(
            new_event(
                PodRequested,
                job,
                attempt=1,
                pod_name=pod_name(job, 1),
                gpu_types=[L40S, H100],
                model="m",
                policy="llm",
            )
        )
    finally:
        await manager.aclose()
        await provider.aclose()
    events = [ev for _seq, ev in await bus.job_events(job)]
    assert [e.type for e in events] == ["PodProvisionFailed"]
    assert "no GPU available" in events[0].reason and api.pods == {}
    row = await repo.get(pod_name(job, 1))
    assert row is not None and row["state"] == "failed"
