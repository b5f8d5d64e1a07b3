"""End-to-end runs of the engine with the heuristic policy (docs/engine.md §2–8)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest

from contracts import artifacts as A
from contracts.spec import SpecError
from contracts.worker import RunSpec
from engine import SimulationCancelled, simulate, simulate_async
from engine.checkpoint import CheckpointError
from engine.policies.base import Action, Observation

SEED = (
    "On March 2, Acme Corp agreed to merge with Globex Corporation. CEO Jane Doe said the deal is likely to close "
    "by June and called it great news. Regulators at the Federal Trade Commission have serious doubts. Investors "
    "cheered. On March 20, Senator John Smith said he opposes the merger and warned it will hurt consumers. "
    "On April 9, only 2 of 5 commissioners backed the merger in a preliminary vote."
)  # dated claims: the later ones arrive in rounds 3 and 6, across the checkpoint at round 4
SPEC = RunSpec(
    seed_text=SEED,
    goal="Will the Acme-Globex merger close by June 30?",
    agents=40,
    rounds=12,
    random_seed=11,
    checkpoint_every=4,
)
SCHEMAS = {
    "chat_log.json": list[A.ChatLogEntry],
    "posts.json": list[A.Post],
    "top_posts.json": list[A.TopPost],
    "trades.json": list[A.Trade],
    "market_curves.json": list[A.MarketCurve],
    "agent_trajectories.json": list[A.AgentTrajectory],
    "engagement_summary.json": list[A.EngagementRound],
    "social_graph.json": A.SocialGraph,
    "profiles.json": list[A.Profile],
    "relations.json": list[A.Relation],
    "claims.json": A.ClaimsFile,
    "stakeholders.json": A.StakeholdersFile,
    "manifest.json": A.Manifest,
}


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("run")
    reports, checkpoints = [], []
    result = simulate(
        SPEC, out, progress=reports.append, checkpoint_sink=lambda r, b: checkpoints.append((r, b))
    )
    return out, result, reports, checkpoints


def test_writes_every_artifact_with_the_contract_schemas(run: tuple) -> None:
    out, result, _, _ = run
    files = _files(out)
    assert set(files) == set(A.ENGINE_ARTIFACTS)
    decoded = {name: msgspec.json.decode(files[name], type=t) for name, t in SCHEMAS.items()}
    manifest = decoded["manifest.json"]
    assert manifest.policy == "heuristic" and manifest.random_seed == 11 and manifest.counts["agents"] == 40
    for f in manifest.files:
        assert hashlib.sha256(files[f.name]).hexdigest() == f.sha256 and len(files[f.name]) == f.size
    assert {d.name for d in result.files} == set(A.ENGINE_ARTIFACTS)
    curves = decoded["market_curves.json"]
    assert curves and all([p.round for p in c.points] == list(range(13)) for c in curves)
    assert result.final_prices == {
        c.market_id: pytest.approx(c.points[-1].price_yes, abs=1e-6) for c in curves
    }
    assert all(len(t.points) == 12 for t in decoded["agent_trajectories.json"])
    assert len(decoded["engagement_summary.json"]) == 12
    assert decoded["posts.json"] and decoded["trades.json"] and decoded["relations.json"]
    assert {r.type for r in decoded["relations.json"]} <= {"SUPPORTS", "DISAGREES_WITH", "INFLUENCES"}
    types = {e.action_type for e in decoded["chat_log.json"]}
    assert {"create_post", "vote", "buy"} <= types
    claims = decoded["claims.json"]
    assert claims.schema_version == 1 and claims.source == "rules" and claims.proposition.polarity == 1
    assert sorted({c.arrival_round for c in claims.claims if c.date}) == [0, 3, 6]
    assert decoded["stakeholders.json"].stakeholders and manifest.counts["claims"] == len(claims.claims)
    argued = [p for p in decoded["posts.json"] if any(c.text[:40] in p.text for c in claims.claims)]
    assert len(argued) > len(decoded["posts.json"]) / 2  # posts argue the seed's claims


def test_progress_and_checkpoints(run: tuple) -> None:
    _, result, reports, checkpoints = run
    assert [r.round for r in reports] == list(range(1, 13))
    assert all(r.rounds == 12 and r.active_agents >= 1 and r.prices for r in reports)
    assert [r for r, _ in checkpoints] == [4, 8]
    assert result.counters["actions"] == reports[-1].counters["actions"] > 0


def test_same_spec_and_seed_give_byte_identical_artifacts(run: tuple, tmp_path: Path) -> None:
    out, *_ = run
    simulate(SPEC, tmp_path)
    first, second = _files(out), _files(tmp_path)
    for name in first:
        if name != "manifest.json":
            assert first[name] == second[name], name
    m1, m2 = (msgspec.json.decode(f["manifest.json"]) for f in (first, second))
    m1.pop("created_at"), m2.pop("created_at")
    assert m1 == m2


def test_a_different_seed_gives_a_different_run(run: tuple, tmp_path: Path) -> None:
    out, *_ = run
    simulate(msgspec.structs.replace(SPEC, random_seed=12), tmp_path)
    assert _files(out)["chat_log.json"] != _files(tmp_path)["chat_log.json"]


def test_resume_from_a_checkpoint_ends_with_the_same_artifacts(run: tuple, tmp_path: Path) -> None:
    out, _, _, checkpoints = run
    round_, data = checkpoints[0]
    reports = []
    simulate(SPEC, tmp_path, resume_from=data, progress=reports.append)
    assert reports[0].round == round_ + 1
    first, second = _files(out), _files(tmp_path)
    for name in first:
        if name != "manifest.json":
            assert first[name] == second[name], name


def test_checkpoint_of_another_spec_is_refused(run: tuple, tmp_path: Path) -> None:
    _, _, _, checkpoints = run
    with pytest.raises(CheckpointError):
        simulate(msgspec.structs.replace(SPEC, agents=41), tmp_path, resume_from=checkpoints[0][1])
    with pytest.raises(CheckpointError):
        simulate(SPEC, tmp_path, resume_from=b"garbage")


def test_should_stop_cancels_between_rounds(tmp_path: Path) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(SimulationCancelled) as info:
        simulate(SPEC, tmp_path, should_stop=stop)
    assert info.value.round == 3


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("goal", "", "goal"),
        ("goal", "   ?? ", "goal"),
        ("goal", "12345 6789 ?", "goal"),
        ("goal", "x" * 1200, "goal"),
        ("seed_text", "  ", "seed_text"),
        ("agents", 0, "agents"),
        ("rounds", 0, "rounds"),
    ],
)
def test_bad_input_is_a_clear_spec_error(tmp_path: Path, field: str, value: object, needle: str) -> None:
    with pytest.raises(SpecError) as info:
        simulate(msgspec.structs.replace(SPEC, **{field: value}), tmp_path)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


class _Chaos:
    """A policy that tries every kind of invalid action."""

    name = "chaos"

    def __init__(self) -> None:
        self.closed = False

    async def decide(self, round: int, observations: list[Observation]) -> list[list[Action]]:
        out = []
        for i, obs in enumerate(observations):
            market = obs.markets[0].market_id
            social = [
                Action(type="create_post", args={"text": "I expect a yes."}),
                Action(type="fly", args={}),
                Action(type="follow", args={}),
                Action(type="vote", args={"post_id": "p0", "value": 1}),
                Action(type="vote", args={"post_id": "p0", "value": 1}),
                Action(type="vote", args={"post_id": "p999999", "value": 1}),
                Action(type="vote", args={"post_id": "p0", "value": 5}),
            ]
            market_acts = [
                Action(type="buy", args={"market_id": market, "outcome": "yes", "amount": 1e9}),
                Action(type="sell", args={"market_id": market, "outcome": "no", "shares": 3}),
                Action(type="buy", args={"market_id": "nope", "outcome": "yes", "amount": 1}),
            ]
            kind = (i + round) % 3
            out.append(social if kind == 0 else market_acts if kind == 1 else social + market_acts)
        return out[:-1]  # a short answer: the last agent does nothing

    async def aclose(self) -> None:
        self.closed = True


async def test_invalid_actions_are_recorded_as_failures_never_raised(tmp_path: Path) -> None:
    policy = _Chaos()
    spec = msgspec.structs.replace(SPEC, agents=6, rounds=3)
    await simulate_async(spec, tmp_path, policy=policy)
    assert not policy.closed  # the caller owns a policy it passed in
    chat = msgspec.json.decode((tmp_path / "chat_log.json").read_bytes(), type=list[A.ChatLogEntry])
    failed = [e for e in chat if not e.success]
    errors = " | ".join(str(e.result) for e in failed)
    for needle in (
        "already voted",
        "unknown post_id",
        "value must be 1 or -1",
        "exceeds cash",
        "holding",
        "unknown market_id",
        "unknown action type",
        "missing argument",
        "at most 8 actions",
    ):
        assert needle in errors, needle
    assert any(e.success and e.action_type == "create_post" for e in chat)
    trades = msgspec.json.decode((tmp_path / "trades.json").read_bytes(), type=list[A.Trade])
    assert trades and not any(t.success for t in trades)
    profiles = msgspec.json.decode((tmp_path / "profiles.json").read_bytes(), type=list[A.Profile])
    assert all(p.cash == 100.0 for p in profiles)
