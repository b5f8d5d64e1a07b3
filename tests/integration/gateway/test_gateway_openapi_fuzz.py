"""The OpenAPI document stays true: schemathesis fuzzes every route of the real gateway and finds no
5xx and no response that its document does not declare (status, content type, headers, body schema,
and each SSE event of the stream against the event schema).

The gateway is served by uvicorn on loopback over the real NATS, PostgreSQL and SeaweedFS, with the
command responder of conftest.py answering for the orchestrator (so `/api/ready` is 200 and creates
work), and authenticated with a real API key. Each operation is fuzzed twice: with generated path
parameters (mostly 404s and 422s) and with the path parameters of real objects (a completed job with
its report, graph, artifact and event log, a running job, a failed one, a draft, a share), so the
success answers are checked too; the successes no generated input reaches (a valid create, a launch,
a retry, and a separate user's register, log-in, password change, logout and account deletion) are
made once explicitly and checked the same way. Hypothesis is derandomized and bounded (a few
hundred calls in all), so a run is repeatable and takes one to three minutes on two busy cores.
The document's own shape (valid 3.1, the SSE event schema) is checked in
tests/unit/gateway/test_gateway_openapi_document.py.
"""

from __future__ import annotations

import asyncio
import json
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contracts.artifacts import ArtifactRef
from contracts.events import JobCompleted, JobCreated, RunProgressed, new_event
from contracts.objects import artifact_key
from contracts.spec import JobSpec, resolve_run
from services.kit.objectstore import sha256_hex
from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer
from tests.integration.gateway.conftest import serve_app
from tests.integration.gateway.test_gateway_results_share import completed_job

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]
GENERATED_EXAMPLES = 12  # per operation and mode, path parameters as generated
KNOWN_EXAMPLES = 8  # per operation and mode, path parameters of real objects
# Positive cases follow the document (the answers must be successes or declared errors); negative
# ones break it (wrong types, missing fields, bad JSON) and must get a declared 4xx, never a 5xx.
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Run last: they change what the other operations see (a deleted job answers 404 from then on).
# Nothing is excluded: the account deletion needs the account's address, logout refuses an API key,
# and the key revoked by id is a spare one, never the fuzzing key.
LAST_METHODS = ("DELETE",)
VALID_SPEC = {
    "seed_text": "Dockworkers at Rotterdam began a strike on Monday.",
    "goal": "Will the Rotterdam strike end within 10 days?",
}
OFF_LIMITS = ("login_ip", "login_account", "register_ip", "mail_ip", "mail_account", "token_ip", "jobs_user")
# Operations that must have answered with success at least once (on the real objects).
AIMED_OK = {
    "GET /api/health",
    "GET /api/ready",
    "GET /metrics",
    "GET /api/config",
    "GET /api/jobs",
    "POST /api/jobs",
    "GET /api/jobs/{job_id}",
    "GET /api/jobs/{job_id}/events",
    "GET /api/jobs/{job_id}/stream",
    "GET /api/jobs/{job_id}/sim-data",
    "GET /api/jobs/{job_id}/report",
    "GET /api/jobs/{job_id}/graph",
    "GET /api/jobs/{job_id}/export/pdf",
    "GET /api/jobs/{job_id}/artifacts/{name}",
    "GET /api/jobs/draft",
    "GET /api/jobs/draft/{draft_id}",
    "PATCH /api/jobs/draft/{draft_id}",
    "GET /api/share/{token}",
    "GET /api/share/{token}/graph",
    "GET /api/share/{token}/og",
    "GET /api/share/{token}/report",
    "GET /api/share/{token}/export/pdf",
    "GET /api/share/demos",
    "POST /api/ai/generate-goal",
    "GET /api/keys",
    "POST /api/keys",
    "POST /api/jobs/draft",
    "POST /api/jobs/draft/{draft_id}/launch",
    "POST /api/jobs/{job_id}/retry",
    "POST /api/jobs/{job_id}/cancel",
    "POST /api/jobs/{job_id}/share",
    "POST /api/jobs/{job_id}/stream-ticket",
    "DELETE /api/jobs/{job_id}",
    "DELETE /api/jobs/draft/{draft_id}",
    "DELETE /api/keys/{key_id}",
    "POST /api/auth/verify-email/request",
    "POST /api/auth/forgot-password",
    "POST /api/auth/register",
    "POST /api/auth/login",
    "PUT /api/profile/password",
    "POST /api/auth/logout",
    "DELETE /api/profile/account",
}


async def _objects(gw: Any) -> dict[str, list[str]]:
    """Real objects of alice's for the path parameters: {parameter name: values}."""
    done = await completed_job(gw)
    body = json.dumps({"round": 1, "agents": []}).encode()
    ref = ArtifactRef(
        name="round_001.json",
        key=artifact_key(done, "round_001.json"),
        size=len(body),
        sha256=sha256_hex(body),
    )
    await gw.store.put_bytes(ref.key, body)
    await gw.pool.execute(
        f"UPDATE {gw.proj}.jobs SET artifacts = $2::jsonb WHERE job_id = $1",
        done,
        json.dumps(
            [
                {
                    "name": ref.name,
                    "key": ref.key,
                    "size": ref.size,
                    "sha256": ref.sha256,
                    "content_type": ref.content_type,
                }
            ]
        ),
    )
    running = await gw.put_job(status="running", stage="running", round=1)
    failed = await gw.put_job(status="failed", stage="failed", error="the pod was lost")  # retryable
    spec = JobSpec(seed_text="A seed.", goal="Will it happen?")
    for job_id in (done, running, failed):
        await gw.bus.publish(
            new_event(JobCreated, job_id, owner_id=gw.alice, spec=spec, run=resolve_run(spec, 7))
        )
        await gw.bus.publish(new_event(RunProgressed, job_id, run_id=f"{job_id}-1", round=1, rounds=15))
    await gw.bus.publish(new_event(JobCompleted, done))
    r = await gw.client.post(f"/api/jobs/{done}/share", headers=gw.as_alice)
    assert r.status_code == 201, r.text
    token = r.json()["share_token"]
    drafts = []
    for _ in range(2):  # one for the fuzzer (its PATCHes may empty it), one that stays launchable
        r = await gw.client.post(
            "/api/jobs/draft",
            json={"goal": "Will it rain?", "seed_text": "Clouds gather."},
            headers=gw.as_alice,
        )
        assert r.status_code == 201, r.text
        drafts.append(r.json()["draft_id"])
    r = await gw.client.post("/api/keys", json={"name": "spare"}, headers=gw.as_alice)
    assert r.status_code == 201, r.text
    return {
        "job_id": [done, running, failed],
        "draft_id": drafts[:1],
        "launchable": drafts[1:],
        "failed": [failed],
        "token": [token],
        "name": [ref.name],
        "key_id": [r.json()["id"]],
    }


def _known(operation: Any, objects: dict[str, list[str]], mode: GenerationMode) -> Any:
    """The operation's cases with each path parameter set to a real object's (None when it has none)."""
    names = [p.name for p in operation.path_parameters]
    if not names or not all(n in objects for n in names):
        return None
    values = st.fixed_dictionaries({n: st.sampled_from(objects[n]) for n in names})
    if operation.path.endswith("/stream"):
        # A running job's stream follows its log until it ends: only the finished one is read whole.
        values = st.fixed_dictionaries({"job_id": st.just(objects["job_id"][0])})

    def aim(case: Any, chosen: dict[str, str]) -> Any:
        case.path_parameters = {**(case.path_parameters or {}), **chosen}
        return case

    return st.builds(aim, operation.as_strategy(mode), values)


def _checks(operation: Any) -> list[Any]:
    """Every check, but for `POST /api/fetch`: a generated URL names some host that does not answer,
    and 502/504 are then the true answer (the upstream failed); they must still be declared."""
    if operation.label == "POST /api/fetch":
        return [c for c in CHECKS if c is not not_a_server_error]
    return CHECKS


def _fuzz(
    schema: Any, base_url: str, keys: tuple[str, str], objects: dict[str, list[str]]
) -> tuple[list[str], Counter[str]]:
    """Run every operation's cases (DELETEs last): the failures as readable texts, and the answers
    seen ("GET /api/jobs/{job_id} 200": count)."""
    failures: list[str] = []
    seen: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() in LAST_METHODS)
    user_key, metrics_token = keys

    def attempt(case: Any, key: str) -> Any:
        """Call and check one case; its response (None when the call itself failed)."""
        headers = {"Authorization": f"Bearer {key}"}
        response = None
        try:
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            seen[f"{case.operation.label} {response.status_code}"] += 1
            case.validate_response(response, checks=_checks(case.operation), headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # collected: the run goes on over every route
            text = "".join(traceback.format_exception_only(exc)).strip()
            failures.append(f"{case.operation.label}\n{text[:3000]}\n{case.as_curl_command(headers)}")
        return response

    def run(strategy: Any, examples: int, key: str = user_key) -> None:
        @hypothesis_settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            attempt(case, key)

        try:
            check()
        except Unsatisfiable:  # a negative case of an operation that has nothing to break
            pass

    _account_lifecycle({op.label: op for op in operations}, attempt, user_key)
    for operation in operations:
        # A valid create is rare among generated specs: one is always made (a complete draft
        # launched, a failed job retried), so their 201s are checked.
        if operation.label == "POST /api/jobs":
            attempt(operation.Case(body=VALID_SPEC, media_type="application/json"), user_key)
        if operation.label == "POST /api/jobs/draft/{draft_id}/launch":
            attempt(operation.Case(path_parameters={"draft_id": objects["launchable"][0]}), user_key)
        if operation.label == "POST /api/jobs/{job_id}/retry":
            attempt(operation.Case(path_parameters={"job_id": objects["failed"][0]}), user_key)
        for mode in MODES:
            # /metrics takes the operator's token (a user's key is the 401 its negative cases check).
            operator = operation.label == "GET /metrics" and mode is GenerationMode.POSITIVE
            run(operation.as_strategy(mode), GENERATED_EXAMPLES, metrics_token if operator else user_key)
            if (aimed := _known(operation, objects, mode)) is not None:
                run(aimed, KNOWN_EXAMPLES)
    return failures, seen


def _account_lifecycle(ops: dict[str, Any], attempt: Callable[[Any, str], Any], user_key: str) -> None:
    """The account routes' successes, which generated input cannot reach (a new address, the right
    password), for a user of its own: register, log in, change the password, log out, delete."""
    email, password, new = (
        f"fuzz-{uuid.uuid4().hex[:12]}@example.com",
        "first password 1",
        "second password 2",
    )
    json_body = {"media_type": "application/json"}
    r = attempt(
        ops["POST /api/auth/register"].Case(body={"email": email, "password": password}, **json_body),
        user_key,
    )
    token = r.json()["token"] if r is not None and r.status_code == 201 else user_key
    attempt(
        ops["POST /api/auth/login"].Case(body={"email": email, "password": password}, **json_body), user_key
    )
    r = attempt(
        ops["PUT /api/profile/password"].Case(
            body={"current_password": password, "new_password": new}, **json_body
        ),
        token,
    )
    token = r.json()["token"] if r is not None and r.status_code == 200 else token
    r = attempt(
        ops["POST /api/auth/login"].Case(body={"email": email, "password": new}, **json_body), user_key
    )
    attempt(
        ops["POST /api/auth/logout"].Case(),
        r.json()["token"] if r is not None and r.status_code == 200 else token,
    )
    attempt(ops["DELETE /api/profile/account"].Case(body={"password": new}, **json_body), token)


async def test_fuzzing_every_route_finds_no_5xx_and_no_undeclared_response(gw, settings):
    objects = await _objects(gw)
    # A model server (a double of the remote LLM) answers, so generate-goal is a 200, not a 503.
    goal = {"content": json.dumps({"goal": "Will the strike end within 10 days?"})}
    with FakeOpenAIServer(FakeBehaviour(script=[goal] * 200)) as fake:
        settings.llm_url = fake.url
        # The limits (their own tests cover them) would answer most account and create cases with 429
        # before the handler reads them; off, the handlers themselves are fuzzed.
        settings.rate_limits = ",".join(f"{name}=off" for name in OFF_LIMITS)
        live_cap, settings.max_live_jobs_per_user = settings.max_live_jobs_per_user, 10_000
        try:
            failures, seen, doc = await _run(gw, objects)
        finally:
            settings.llm_url, settings.rate_limits, settings.max_live_jobs_per_user = None, "", live_cap
    print("\n".join(f"{answer}: {count}" for answer, count in sorted(seen.items())))
    labels = {f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops}
    assert {answer.rsplit(" ", 1)[0] for answer in seen} == labels  # every route was called
    # ... and the real objects were reached, so the success answers were checked too (each SSE
    # event of the stream against its schema among them).
    ok = {answer.rsplit(" ", 1)[0] for answer in seen if answer.endswith((" 200", " 201", " 202", " 204"))}
    assert AIMED_OK <= ok, sorted(AIMED_OK - ok)
    assert not failures, f"{len(failures)} failing cases:\n\n" + "\n\n".join(failures)


async def _run(gw: Any, objects: dict[str, list[str]]) -> tuple[list[str], Counter[str], dict[str, Any]]:
    async with serve_app(gw.app) as base_url:
        async with httpx.AsyncClient() as client:
            doc = (await client.get(f"{base_url}/api/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(doc)
        keys = (gw.alice_key, gw.app.state.ctx.settings.metrics_token)
        failures, seen = await asyncio.to_thread(_fuzz, schema, base_url, keys, objects)
    return failures, seen, doc


async def test_a_body_that_is_not_text_is_a_declared_400_invalid_json(gw):
    """Found by the fuzzer: a typed body that is not UTF-8 got FastAPI's undeclared 400 `bad_request`."""
    doc = (await gw.client.get("/api/openapi.json")).json()
    for path, method in (
        ("/api/auth/login", "post"),
        ("/api/keys", "post"),
        ("/api/profile/account", "delete"),
    ):
        assert "400" in doc["paths"][path][method]["responses"], path
        r = await gw.client.request(
            method.upper(),
            path,
            content=b"\xff\xfe{",
            headers={**gw.as_alice, "Content-Type": "application/json"},
        )
        assert r.status_code == 400 and r.json() == {
            "detail": "body: is not valid JSON (it must be UTF-8 text)",
            "code": "invalid_json",
        }, r.text
