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


# post id, parent, author, round, likes, reposts, replies, stance, claim id, text
POSTS = [
    ("p1", None, "a1", 1, 2, 1, 1, 0.6, "c1", "Tariffs protect soybean farmers from dumping"),
    ("p2", None, "a2", 2, 6, 2, 1, 0.5, "c1", "Soybean exports and tariffs: farmers win"),
    ("p3", None, "a4", 2, 3, 0, 0, -0.5, "c2", "Factory jobs vanish when unions lose leverage"),
    ("p4", "p1", "a5", 3, 1, 0, 0, -0.4, "c2", "Unions say factory wages fall"),
    ("p5", None, "a3", 4, 1, 0, 0, 0.2, "c3", "Economists model inflation from tariffs"),
    ("p6", "p2", "a4", 5, 0, 0, 0, -0.6, "c2", "Factory closures loom for union towns"),
    ("p7", None, "a6", 6, 1, 0, 0, 0.0, "", "Hard to say; inflation data pending"),
]
_POST_FIELDS = "post_id parent_id author round likes reposts replies stance claim_id text".split()

# trade id, round, agent, market, side, outcome, shares, cost, price after, success
TRADES = [
    ("t1", 1, "a1", "tariffs-pass", "buy", "yes", 10, 5.2, 0.55, True),
    ("t2", 2, "a4", "tariffs-pass", "buy", "no", 8, 3.9, 0.52, True),
    ("t3", 5, "a2", "tariffs-pass", "buy", "yes", 30, 17.0, 0.66, True),
    ("t4", 3, "a5", "retaliation", "buy", "yes", 5, 2.0, 0.44, True),
]
_TRADE_FIELDS = "trade_id round agent market_id side outcome shares cost price_after success".split()


def post(*values: object) -> A.Post:
    """A post from one row of POSTS' columns."""
    return A.Post(**dict(zip(_POST_FIELDS, values, strict=True)))


def trade(*values: object, error: str | None = None) -> A.Trade:
    """A trade from one row of TRADES' columns (and the error of a failed one)."""
    return A.Trade(**dict(zip(_TRADE_FIELDS, values, strict=True)), error=error)


def _posts() -> list[A.Post]:
    return [post(*row) for row in POSTS]


def _trades() -> list[A.Trade]:
    failed = trade(
        "t5", 4, "a6", "retaliation", "sell", "yes", 99, 0.0, 0.44, False, error="not enough shares"
    )
    return [*(trade(*row) for row in TRADES), failed]


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


def _claim(
    claim_id: str, source_id: str, stance: float, label: str, order: int, text: str, arrival: int = 0
) -> A.Claim:
    """A claim read as it bears on YES (direction = stance, strength = |stance|) from a stakeholder."""
    return A.Claim(
        claim_id=claim_id,
        text=text,
        source_id=source_id,
        source=STAKEHOLDERS[source_id],
        direction=stance,
        stance=stance,
        strength=abs(stance),
        label=label,
        order=order,
        arrival_round=arrival,
    )


def _claims() -> A.ClaimsFile:
    prop = A.Proposition(
        question=GOAL, statement="the tariff bill passes by June", subject="the tariff bill", event="pass"
    )
    return A.ClaimsFile(
        proposition=prop,
        claims=[
            _claim("c1", "farm-lobby", 0.6, "for", 1, "Soybean exports fell 30% under dumping"),
            _claim("c2", "unions", -0.5, "against", 2, "Two factories closed after the last tariff round"),
            _claim("c3", "economists", 0.0, "neutral", 3, "The inflation report is due in May", arrival=5),
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
