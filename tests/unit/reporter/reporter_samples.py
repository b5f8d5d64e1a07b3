"""A small hand-built run (6 agents, 2 markets, 6 rounds over 42 days) in the contracts' artifact shapes.

Constructed so the expected report is known: agents a1+a2 are a mutual-follow YES bloc, a3 is a YES
agent with no mutual follows among YES agents, a4+a5 are a NO bloc, a6 ends undecided. The trade t3
moves `tariffs-pass` most; round 5 is its sharpest swing; post p2 is the most engaged. Claim c1 (Farm
Lobby, for) is argued in p1 and p2, c2 (United Steelworkers, against) in p3, p4 and p6, and c3 (neutral)
arrives in round 5; the unions end on NO while the market closes at 0.66 (YES).
"""

from __future__ import annotations

import hashlib

import msgspec

from contracts import artifacts as A

AGENTS = {
    "a1": ("Alice Trade", "farm-lobby", "organisation", 0.2, 0.7),
    "a2": ("Bob Tariff", "farm-lobby", "organisation", 0.1, 0.5),
    "a3": ("Cara Solo", "economists", "faction", 0.0, 0.3),
    "a4": ("Dan Jobs", "unions", "organisation", -0.3, -0.6),
    "a5": ("Eve Factory", "unions", "organisation", -0.1, -0.4),
    "a6": ("Finn Middle", "economists", "faction", 0.0, 0.05),
}
GOAL = "Will the tariff bill pass by June?"
ROUNDS = 6
FORECAST_DAYS = 42


def _posts() -> list[A.Post]:
    return [
        A.Post(
            post_id="p1",
            parent_id=None,
            author="a1",
            text="Tariffs protect soybean farmers from dumping",
            round=1,
            likes=2,
            reposts=1,
            replies=1,
            stance=0.6,
            claim_id="c1",
        ),
        A.Post(
            post_id="p2",
            parent_id=None,
            author="a2",
            text="Soybean exports and tariffs: farmers win",
            round=2,
            likes=6,
            reposts=2,
            replies=1,
            stance=0.5,
            claim_id="c1",
        ),
        A.Post(
            post_id="p3",
            parent_id=None,
            author="a4",
            text="Factory jobs vanish when unions lose leverage",
            round=2,
            likes=3,
            reposts=0,
            replies=0,
            stance=-0.5,
            claim_id="c2",
        ),
        A.Post(
            post_id="p4",
            parent_id="p1",
            author="a5",
            text="Unions say factory wages fall",
            round=3,
            likes=1,
            stance=-0.4,
            claim_id="c2",
        ),
        A.Post(
            post_id="p5",
            parent_id=None,
            author="a3",
            text="Economists model inflation from tariffs",
            round=4,
            likes=1,
            reposts=0,
            replies=0,
            stance=0.2,
            claim_id="c3",
        ),
        A.Post(
            post_id="p6",
            parent_id="p2",
            author="a4",
            text="Factory closures loom for union towns",
            round=5,
            likes=0,
            stance=-0.6,
            claim_id="c2",
        ),
        A.Post(
            post_id="p7",
            parent_id=None,
            author="a6",
            text="Hard to say; inflation data pending",
            round=6,
            likes=1,
            stance=0.0,
        ),
    ]


def _trades() -> list[A.Trade]:
    return [
        A.Trade(
            trade_id="t1",
            round=1,
            agent="a1",
            market_id="tariffs-pass",
            side="buy",
            outcome="yes",
            shares=10,
            cost=5.2,
            price_after=0.55,
            success=True,
        ),
        A.Trade(
            trade_id="t2",
            round=2,
            agent="a4",
            market_id="tariffs-pass",
            side="buy",
            outcome="no",
            shares=8,
            cost=3.9,
            price_after=0.52,
            success=True,
        ),
        A.Trade(
            trade_id="t3",
            round=5,
            agent="a2",
            market_id="tariffs-pass",
            side="buy",
            outcome="yes",
            shares=30,
            cost=17.0,
            price_after=0.66,
            success=True,
        ),
        A.Trade(
            trade_id="t4",
            round=3,
            agent="a5",
            market_id="retaliation",
            side="buy",
            outcome="yes",
            shares=5,
            cost=2.0,
            price_after=0.44,
            success=True,
        ),
        A.Trade(
            trade_id="t5",
            round=4,
            agent="a6",
            market_id="retaliation",
            side="sell",
            outcome="yes",
            shares=99,
            cost=0.0,
            price_after=0.44,
            success=False,
            error="not enough shares",
        ),
    ]


def _curves() -> list[A.MarketCurve]:
    tp = [0.5, 0.55, 0.52, 0.52, 0.52, 0.66, 0.66]
    rt = [0.4, 0.4, 0.4, 0.44, 0.44, 0.44, 0.44]
    return [
        A.MarketCurve(
            market_id="tariffs-pass",
            question=GOAL,
            points=[A.CurvePoint(round=r, price_yes=p, volume=1.0 * r) for r, p in enumerate(tp)],
        ),
        A.MarketCurve(
            market_id="retaliation",
            question="Will trading partners retaliate?",
            points=[A.CurvePoint(round=r, price_yes=p, volume=0.5) for r, p in enumerate(rt)],
        ),
    ]


def _trajectories() -> list[A.AgentTrajectory]:
    out = []
    for aid, (name, _e, _t, start, end) in AGENTS.items():
        pts = [
            A.TrajectoryPoint(
                round=r,
                position=round(start + (end - start) * r / ROUNDS, 4),
                confidence=0.5,
                posts=1 if r == 1 else 0,
                actions=1,
            )
            for r in range(1, ROUNDS + 1)
        ]
        out.append(A.AgentTrajectory(agent_id=aid, agent_name=name, points=pts))
    return out


def _profiles() -> list[A.Profile]:
    return [
        A.Profile(
            agent_id=aid,
            name=name,
            entity_id=ent,
            entity_type=etype,
            persona=f"{name} of {ent}",
            traits={"activity": 0.5},
            initial_position=start,
            final_position=end,
            totals={"posts": 1},
            cash=100.0,
            holdings={},
            platforms=["social", "market"],
        )
        for aid, (name, ent, etype, start, end) in AGENTS.items()
    ]


def _chat_log() -> list[A.ChatLogEntry]:
    def entry(rnd: int, agent: str, action: str, args: dict, platform: str = "social", ok: bool = True):
        return A.ChatLogEntry(
            round=rnd,
            agent_id=agent,
            agent_name=AGENTS[agent][0],
            action_type=action,
            platform=platform,
            args=args,
            result=None,
            success=ok,
        )

    return [
        entry(1, "a1", "create_post", {"text": "Tariffs protect soybean farmers"}),
        entry(2, "a2", "vote", {"post_id": "p1", "value": 1}),
        entry(2, "a3", "vote", {"post_id": "p1", "value": 1}),
        entry(3, "a2", "vote", {"post_id": "p3", "value": -1}),
        entry(3, "a5", "reply", {"post_id": "p1", "text": "Unions say factory wages fall"}),
        entry(3, "a1", "repost", {"post_id": "p2"}),
        entry(4, "a1", "repost", {"post_id": "p2"}),
        entry(4, "a6", "vote", {"post_id": "p99", "value": 1}, ok=False),
        entry(4, "a1", "vote", {"post_id": "p1", "value": 1}),  # own post: no interaction edge
        entry(1, "a1", "buy", {"market_id": "tariffs-pass", "outcome": "yes", "amount": 5.2}, "market"),
    ]


def _social() -> A.SocialGraph:
    edges = [("a1", "a2"), ("a2", "a1"), ("a4", "a5"), ("a5", "a4"), ("a3", "a1"), ("a6", "a4")]
    return A.SocialGraph(
        edges=[A.FollowEdge(source=s, target=t, round=1) for s, t in edges],
        mutual=[["a1", "a2"], ["a4", "a5"]],
    )


def _relations() -> list[A.Relation]:
    return [
        A.Relation(source="farm-lobby", target="unions", type="DISAGREES_WITH", fact="Split on tariffs"),
        A.Relation(source="economists", target="farm-lobby", type="INFLUENCES", fact="Inflation models"),
        A.Relation(source="unions", target="congress", type="LOBBIES", fact="Pressing for the bill"),
    ]


STAKEHOLDERS = {"farm-lobby": "Farm Lobby", "unions": "United Steelworkers", "economists": "Economists"}


def _claims() -> A.ClaimsFile:
    prop = A.Proposition(
        question=GOAL, statement="the tariff bill passes by June", subject="the tariff bill", event="pass"
    )
    return A.ClaimsFile(
        proposition=prop,
        claims=[
            A.Claim(
                claim_id="c1",
                text="Soybean exports fell 30% under dumping",
                source_id="farm-lobby",
                source="Farm Lobby",
                direction=0.6,
                stance=0.6,
                strength=0.6,
                label="for",
                order=1,
            ),
            A.Claim(
                claim_id="c2",
                text="Two factories closed after the last tariff round",
                source_id="unions",
                source="United Steelworkers",
                direction=-0.5,
                stance=-0.5,
                strength=0.5,
                label="against",
                order=2,
            ),
            A.Claim(
                claim_id="c3",
                text="The inflation report is due in May",
                source_id="economists",
                source="Economists",
                label="neutral",
                order=3,
                arrival_round=5,
            ),
        ],
    )


def _stakeholders() -> A.StakeholdersFile:
    return A.StakeholdersFile(
        stakeholders=[
            A.Entity(entity_id=e, name=n, type="organization", summary=f"{n} has a stake")
            for e, n in STAKEHOLDERS.items()
        ]
    )


def _engagement() -> list[A.EngagementRound]:
    return [
        A.EngagementRound(
            round=r, posts=1, replies=0, votes=1, reposts=0, follows=1, trades=1, active_agents=4
        )
        for r in range(1, ROUNDS + 1)
    ]


def sample_files(forecast_days: int = FORECAST_DAYS) -> dict[str, bytes]:
    """file name -> bytes of every engine artifact, manifest last (with the others' digests)."""
    enc = msgspec.json.encode
    posts = _posts()
    top = sorted(posts, key=lambda p: -(p.likes + p.reposts + p.replies))
    files = {
        "chat_log.json": enc(_chat_log()),
        "posts.json": enc(posts),
        "top_posts.json": enc(
            [A.TopPost(**msgspec.structs.asdict(p), engagement=p.likes + p.reposts + p.replies) for p in top]
        ),
        "trades.json": enc(_trades()),
        "market_curves.json": enc(_curves()),
        "agent_trajectories.json": enc(_trajectories()),
        "engagement_summary.json": enc(_engagement()),
        "social_graph.json": enc(_social()),
        "profiles.json": enc(_profiles()),
        "relations.json": enc(_relations()),
        "claims.json": enc(_claims()),
        "stakeholders.json": enc(_stakeholders()),
    }
    manifest = A.Manifest(
        engine_version="test",
        policy="heuristic",
        model=None,
        random_seed=7,
        created_at="2025-01-01T00:00:00Z",
        spec={"goal": GOAL, "forecast_days": forecast_days, "rounds": ROUNDS, "agents": len(AGENTS)},
        counts={"agents": len(AGENTS), "rounds": ROUNDS},
        files=[
            A.ManifestFile(name=n, size=len(b), sha256=hashlib.sha256(b).hexdigest())
            for n, b in files.items()
        ],
    )
    files["manifest.json"] = enc(manifest)
    return files
