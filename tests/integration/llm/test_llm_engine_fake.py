"""`engine.simulate(policy="llm")` end to end against the fake OpenAI-compatible server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.worker import RunSpec
from engine import simulate
from engine.llm import LLMUnavailable
from tests.fakes.openai_server import FakeBehaviour, FakeOpenAIServer

pytestmark = pytest.mark.integration

SEED = (
    "Mayor Ana Ruiz backs the Springfield light-rail line. The Taxpayers Alliance opposes it and the "
    "Transit Workers Union wants guarantees. Councillor Ben Okafor is undecided; the Chamber of Commerce "
    "is split."
)
GOAL = "Will the Springfield council approve the light-rail line by the end of next month?"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("SIMSWARM_LLM_TIMEOUT_S", "5")
    with FakeOpenAIServer(FakeBehaviour(latency_ms=(1.0, 5.0))) as server:
        yield server


def run(fake: FakeOpenAIServer, out: Path, **overrides: object):  # type: ignore[no-untyped-def]
    fields = {
        "seed_text": SEED,
        "goal": GOAL,
        "policy": "llm",
        "llm_url": fake.url,
        "agents": 15,
        "rounds": 3,
        "random_seed": 3,
        "checkpoint_every": 0,
        **overrides,
    }
    return simulate(
        RunSpec(**fields),
        out,
        progress=None,
        should_stop=None,
        checkpoint_sink=None,  # type: ignore[arg-type]
        resume_from=None,
        policy=None,
    )


def chat_log(out: Path) -> list[dict]:
    return json.loads((out / "chat_log.json").read_text())


def test_llm_run_completes_with_model_chosen_actions(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result = run(fake, tmp_path)
    log = chat_log(tmp_path)
    assert log and sum(e["success"] for e in log) > len(log) / 2
    assert {e["action_type"] for e in log} & {"create_post", "vote", "reply", "buy"}
    assert result.counters["llm_calls"] >= 15 and result.counters["llm_errors"] == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["policy"] == "llm" and manifest["llm_counters"]["llm_calls"] > 0
    assert fake.stats()["distinct_system_prompts"] >= 2  # agent turns share one; extraction has its own


def test_garbage_output_is_recorded_as_failed_actions(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.configure(garbage_rate=0.5)
    result = run(fake, tmp_path)
    failed = [e for e in chat_log(tmp_path) if not e["success"]]
    assert any(e["action_type"] in ("invalid_tool_call", "launch_rocket") for e in failed)
    assert result.counters["llm_malformed_calls"] > 0


def test_transient_errors_are_retried_and_the_run_goes_on(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMSWARM_LLM_RETRIES", "8")
    fake.configure(error_rate=0.3, error_codes=[500, 429, 502])
    result = run(fake, tmp_path)
    assert result.counters["llm_retries"] > 0 and result.counters["llm_errors"] == 0


def test_a_hung_endpoint_fails_the_run_with_a_clear_reason(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMSWARM_LLM_TIMEOUT_S", "0.3")
    monkeypatch.setenv("SIMSWARM_LLM_RETRIES", "0")
    monkeypatch.setenv("SIMSWARM_LLM_MAX_FAILED_ROUNDS", "2")
    fake.configure(hang_rate=1.0, hang_s=30)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="timed out"):
        run(fake, tmp_path, rounds=10)
    assert time.monotonic() - started < 15


def test_occasional_timeouts_do_not_stop_the_run(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMSWARM_LLM_TIMEOUT_S", "0.3")
    monkeypatch.setenv("SIMSWARM_LLM_RETRIES", "0")
    fake.configure(hang_rate=0.2, hang_s=30)
    result = run(fake, tmp_path)
    failed = [e for e in chat_log(tmp_path) if e["action_type"] == "llm_error"]
    assert failed and result.counters["llm_timeouts"] > 0


def test_seed_is_read_by_the_model_and_beliefs_are_the_declared_probabilities(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    """With a model: claims.json comes from the model's strict-JSON reading; each action carries the agent's
    probability, which becomes its belief (trajectory) and the stance of what it writes (posts.json)."""
    run(fake, tmp_path)
    claims = json.loads((tmp_path / "claims.json").read_text())
    stakeholders = json.loads((tmp_path / "stakeholders.json").read_text())
    assert claims["source"] == "llm" and claims["schema_version"] == 1 and claims["claims"]
    assert stakeholders["source"] == "llm" and stakeholders["stakeholders"]
    log = chat_log(tmp_path)
    last_round = max(e["round"] for e in log)
    declared: dict[str, float] = {}
    for e in log:
        if e["round"] == last_round and isinstance(e["args"].get("probability"), (int, float)):
            declared[e["agent_id"]] = float(e["args"]["probability"])
    assert declared
    trajectories = {
        t["agent_id"]: t["points"][-1]["position"]
        for t in json.loads((tmp_path / "agent_trajectories.json").read_text())
    }
    for agent, p in declared.items():
        assert trajectories[agent] == pytest.approx(2 * p - 1, abs=2e-4)
    posts = {p["post_id"]: p for p in json.loads((tmp_path / "posts.json").read_text())}
    written = [e for e in log if e["action_type"] in ("create_post", "reply") and e["success"]]
    assert written
    for e in written:
        assert posts[e["result"]["post_id"]]["stance"] == pytest.approx(
            2 * e["args"]["probability"] - 1, abs=2e-4
        )


def test_unusable_seed_reading_falls_back_to_the_rules(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.configure(garbage_rate=1.0)  # every JSON answer is broken, the repair too
    run(fake, tmp_path, rounds=1)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["source"] == "rules" and claims["proposition"]["statement"]
