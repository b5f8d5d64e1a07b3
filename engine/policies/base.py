"""The policy interface: what an agent observes each round, what it may do, and who decides.

A policy sees one `Observation` per active agent and returns, for each, a list of `Action`s. The
world validates every action (unknown post or market, a second vote, buying past one's cash,
selling more than held, malformed args) and records failures as failed actions in the chat log;
a policy never has to pre-validate and the world never raises on a bad action. What each action
returned is shown to the agent the next time it acts, in `Observation.last_results`.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, get_args, runtime_checkable

import msgspec

ActionType = Literal[
    "create_post",
    "reply",
    "vote",
    "repost",
    "follow",
    "do_nothing",
    "buy",
    "sell",
    "comment_on_market",
]

SOCIAL_ACTIONS: frozenset[str] = frozenset({"create_post", "reply", "vote", "repost", "follow", "do_nothing"})
MARKET_ACTIONS: frozenset[str] = frozenset({"buy", "sell", "comment_on_market"})
ACTION_TYPES: tuple[str, ...] = get_args(ActionType)

# Argument shapes, for prompt/tool schemas (the world is the authority on validation):
#   create_post{text}, reply{post_id, text}, vote{post_id, value: 1|-1}, repost{post_id},
#   follow{agent_id}, do_nothing{}, buy{market_id, outcome: "yes"|"no", amount: cash to spend},
#   sell{market_id, outcome: "yes"|"no", shares}, comment_on_market{market_id, text}
# buy and sell also take an optional limit: buy{..., max_price} spends at most `amount` and stops
# where the outcome's price reaches max_price; sell{..., min_price} stops where it falls to min_price.
# Observations show prices as of the start of the round, so a limit protects against a crowd
# trading on the same stale price.
ACTION_ARGS: dict[str, dict[str, str]] = {
    "create_post": {"text": "string"},
    "reply": {"post_id": "string", "text": "string"},
    "vote": {"post_id": "string", "value": "integer (1 or -1)"},
    "repost": {"post_id": "string"},
    "follow": {"agent_id": "string"},
    "do_nothing": {},
    "buy": {
        "market_id": "string",
        "outcome": "'yes' or 'no'",
        "amount": "number (cash to spend)",
        "max_price": "optional number in (0, 1): stop buying when the outcome's price reaches it",
    },
    "sell": {
        "market_id": "string",
        "outcome": "'yes' or 'no'",
        "shares": "number",
        "min_price": "optional number in (0, 1): stop selling when the outcome's price falls to it",
    },
    "comment_on_market": {"market_id": "string", "text": "string"},
}


class Action(msgspec.Struct, kw_only=True):
    """One thing an agent wants to do. `type` outside ACTION_TYPES is recorded as a failed action."""

    type: str
    args: dict[str, Any] = {}


class ActionResult(msgspec.Struct, kw_only=True):
    """What the world answered to one action: shown to the agent the next time it acts."""

    round: int
    action: str
    args: dict[str, Any]
    success: bool
    result: dict[str, Any] | None = None
    error: str | None = None


class MarketView(msgspec.Struct, kw_only=True):
    """A market as one agent sees it: price and that agent's own holdings."""

    market_id: str
    question: str
    price_yes: float
    yes_shares: float = 0.0
    no_shares: float = 0.0
    # What the agent's belief on the question implies for this market (nested deadlines, a
    # stakeholder's stance: engine/coherence.py); None when the world cannot tell.
    belief_yes: float | None = None


class ClaimView(msgspec.Struct, kw_only=True):
    """A claim of the seed an agent knows: what it says, who says it, and which way it points."""

    claim_id: str
    text: str
    source: str
    stance: float  # toward YES on the question, times its strength: in [-1, 1]
    label: str = "neutral"  # for / against / neutral


class FeedItem(msgspec.Struct, kw_only=True):
    """What an agent's feed shows of any post, top-level or reply."""

    post_id: str
    author_id: str
    author_name: str
    text: str
    likes: int = 0
    dislikes: int = 0
    stance: float = 0.0  # toward YES on the question: the claim it argues or its author's stated probability
    claim_id: str = ""  # the seed claim it argues, if any


class FeedReply(FeedItem, kw_only=True):
    """A reply under a post in an agent's feed."""


class FeedPost(FeedItem, kw_only=True):
    """A top-level post in an agent's feed, with the first few replies under it."""

    round: int
    reposts: int = 0
    replies: list[FeedReply] = []
    reply_count: int = 0
    followed: bool = False  # the reader follows the author
    my_vote: int = 0  # the reader's vote on it so far: 1, -1 or 0


class ViralEvent(msgspec.Struct, kw_only=True):
    """A post that crossed the virality threshold: every agent hears about it."""

    round: int
    post_id: str
    author_id: str
    author_name: str
    text: str
    engagement: int


class Observation(msgspec.Struct, kw_only=True):
    """Everything one agent is shown in one round (the world as of the start of the round)."""

    agent_id: str
    agent_name: str
    persona: str
    traits: dict[str, float]
    round: int
    rounds: int
    question: str
    position: float  # in [-1, 1]: -1 certain NO, +1 certain YES
    confidence: float  # in [0, 1]
    cash: float
    markets: list[MarketView]
    feed: list[FeedPost]
    last_results: list[ActionResult] = []
    events: list[ViralEvent] = []
    entity_id: str = ""
    entity_name: str = ""
    following: list[str] = []
    forecast_days: int = 30
    claims: list[ClaimView] = []  # the seed's claims this agent knows (its own information)


@runtime_checkable
class AgentPolicy(Protocol):
    """Decides the actions of every active agent in a round.

    `decide` gets the observations of the active agents (in a stable order) and returns one list of
    actions per observation, same order and length. A missing or short answer means "do nothing".
    """

    name: str

    async def decide(self, round: int, observations: list[Observation]) -> list[list[Action]]: ...

    async def aclose(self) -> None: ...
