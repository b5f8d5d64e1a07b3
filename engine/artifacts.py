"""Writing a run's artifacts (docs/engine.md §8) with the schemas of contracts/artifacts.py.

Every file is msgspec-encoded JSON; floats are rounded so the files stay compact. The manifest
lists the SHA-256 and size of every other file; only its `created_at` varies between two runs of
the same spec and seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from contracts.artifacts import (
    AgentTrajectory,
    ClaimsFile,
    FollowEdge,
    Manifest,
    ManifestFile,
    MarketCurve,
    Post,
    Profile,
    SocialGraph,
    StakeholdersFile,
    TopPost,
    TrajectoryPoint,
)
from contracts.worker import ArtifactDigest, RunSpec
from engine.recorder import TOTAL_KEYS, numpy_hook
from engine.relations import derive_relations
from engine.world import World

TOP_POSTS = 100
_encoder = msgspec.json.Encoder(enc_hook=numpy_hook)


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def posts(world: World) -> list[Post]:
    plat, ids = world.platform, world.pop.ids
    c = {k: plat.col(k).tolist() for k in plat.INT_COLS}
    stance = plat.stance[: plat.count].tolist()
    claim_ids = [c.claim_id for c in world.reading.claims]
    claim = plat.claim[: plat.count].tolist()
    return [
        Post(
            post_id=f"p{i}",
            parent_id=f"p{c['parent'][i]}" if c["parent"][i] >= 0 else None,
            author=ids[c["author"][i]],
            text=plat.texts[i],
            round=c["round"][i],
            likes=c["likes"][i],
            dislikes=c["dislikes"][i],
            reposts=c["reposts"][i],
            replies=c["replies"][i],
            stance=_r(stance[i]),
            claim_id=claim_ids[claim[i]] if 0 <= claim[i] < len(claim_ids) else "",
        )
        for i in range(plat.count)
    ]


def top_posts(all_posts: list[Post]) -> list[TopPost]:
    ranked = sorted(all_posts, key=lambda p: (-(p.likes + p.reposts + p.replies), int(p.post_id[1:])))[
        :TOP_POSTS
    ]
    return [TopPost(**msgspec.structs.asdict(p), engagement=p.likes + p.reposts + p.replies) for p in ranked]


def trajectories(world: World) -> list[AgentTrajectory]:
    rec = world.recorder
    if not rec.positions:
        return [
            AgentTrajectory(agent_id=a, agent_name=n, points=[])
            for a, n in zip(world.pop.ids, world.pop.names, strict=True)
        ]
    pos = np.round(np.stack(rec.positions), 4).T.tolist()
    conf = np.round(np.stack(rec.confidences), 4).T.tolist()
    posts_ = np.stack(rec.round_posts).T.tolist()
    acts = np.stack(rec.round_actions).T.tolist()
    rounds = [e.round for e in rec.engagement]
    return [
        AgentTrajectory(
            agent_id=world.pop.ids[i],
            agent_name=world.pop.names[i],
            points=[
                TrajectoryPoint(round=r, position=p, confidence=c, posts=n, actions=a)
                for r, p, c, n, a in zip(rounds, pos[i], conf[i], posts_[i], acts[i], strict=True)
            ],
        )
        for i in range(world.n)
    ]


def social_graph(world: World) -> SocialGraph:
    ids = world.pop.ids
    edges = [FollowEdge(source=ids[a], target=ids[b], round=r) for a, b, r in world.platform.follow_edges]
    follows = world.platform.follows
    n = world.n
    mutual = sorted(
        {tuple(sorted((ids[a], ids[b]))) for a, b, _ in world.platform.follow_edges if b * n + a in follows}
    )
    return SocialGraph(edges=edges, mutual=[list(m) for m in mutual])


def profiles(world: World) -> list[Profile]:
    pop, book, totals = world.pop, world.book, world.recorder.totals.tolist()
    market_ids = [m.market_id for m in book.markets]
    out = []
    for i in range(world.n):
        ent = world.entities[int(pop.entity_index[i])]
        holdings = {
            market_ids[k]: {"yes": _r(book.holdings[k, i, 0], 6), "no": _r(book.holdings[k, i, 1], 6)}
            for k in range(len(market_ids))
            if book.holdings[k, i].any()
        }
        out.append(
            Profile(
                agent_id=pop.ids[i],
                name=pop.names[i],
                entity_id=ent.entity_id,
                entity_type=ent.type,
                persona=pop.personas[i],
                traits=pop.trait_dict(i),
                initial_position=_r(pop.initial_position[i]),
                final_position=_r(world.position[i]),
                totals=dict(zip(TOTAL_KEYS, totals[i], strict=True)),
                cash=_r(book.cash[i], 6),
                holdings=holdings,
                platforms=["social", "market"],
            )
        )
    return out


def curves(world: World) -> list[MarketCurve]:
    for pts in world.recorder.curves.values():
        for p in pts:
            p.price_yes, p.volume = _r(p.price_yes, 6), _r(p.volume, 6)
    return [
        MarketCurve(market_id=m.market_id, question=m.question, points=world.recorder.curves[m.market_id])
        for m in world.book.markets
    ]


def _write(out: Path, name: str, data: bytes, digests: list[ArtifactDigest]) -> None:
    (out / name).write_bytes(data)
    digests.append(ArtifactDigest(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest()))


def write_artifacts(
    world: World,
    spec: RunSpec,
    out_dir: Path,
    *,
    policy_name: str,
    model: str | None,
    llm_counters: dict[str, float] | None = None,
) -> list[ArtifactDigest]:
    """Write every artifact and the manifest into out_dir; returns their digests (manifest last)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    digests: list[ArtifactDigest] = []
    all_posts = posts(world)
    relations = derive_relations(
        world.entities,
        world.pop.entity_index,
        world.pop.initial_position,
        world.position,
        world.recorder.interactions,
    )
    files: Iterable[tuple[str, Any]] = (
        ("posts.json", all_posts),
        ("top_posts.json", top_posts(all_posts)),
        ("trades.json", world.recorder.trades),
        ("market_curves.json", curves(world)),
        ("agent_trajectories.json", trajectories(world)),
        ("engagement_summary.json", world.recorder.engagement),
        ("social_graph.json", social_graph(world)),
        ("profiles.json", profiles(world)),
        ("relations.json", relations),
        (
            "claims.json",
            ClaimsFile(
                source=world.reading.source,
                proposition=world.reading.proposition,
                claims=world.reading.claims,
            ),
        ),
        ("stakeholders.json", StakeholdersFile(source=world.reading.source, stakeholders=world.entities)),
    )
    _write(out_dir, "chat_log.json", world.recorder.chat_json(), digests)
    for name, obj in files:
        _write(out_dir, name, _encoder.encode(obj), digests)
    plat = world.platform
    replies = int((plat.col("parent") >= 0).sum())
    counts = {
        "agents": world.n,
        "rounds": world.round,
        "entities": len(world.entities),
        "markets": len(world.book.markets),
        "posts": plat.count - replies,
        "replies": replies,
        "trades": sum(1 for t in world.recorder.trades if t.success),
        "failed_trades": sum(1 for t in world.recorder.trades if not t.success),
        "chat_entries": world.recorder.chat_count,
        "follows": len(plat.follow_edges),
        "relations": len(relations),
        "claims": len(world.reading.claims),
    }
    manifest = Manifest(
        engine_version=_engine_version(),
        spec=msgspec.to_builtins(spec),
        policy=policy_name,
        model=model,
        random_seed=spec.random_seed,
        counts=counts,
        files=[ManifestFile(name=d.name, size=d.size, sha256=d.sha256) for d in digests],
        created_at=datetime.now(UTC).isoformat(),
        llm_counters=llm_counters or None,
    )
    _write(out_dir, "manifest.json", _encoder.encode(manifest), digests)
    return digests


def _engine_version() -> str:
    from engine import ENGINE_VERSION

    return ENGINE_VERSION
