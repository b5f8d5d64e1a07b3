"""The heuristic policy's voice: posts and replies that argue a seed claim in the persona's words.

A post = an opener that fits the persona (whom it speaks for, its temperament) + the claim, framed
one of several ways and attributed to its source + a verdict that states the author's own
probability and whether the claim supports its view. A reply answers the claim of the post it
replies to: agreement adds a supporting claim, disagreement answers with a counter-claim. Nothing
here is specific to one seed; all content comes from the claims.
"""

from __future__ import annotations

from engine.policies.base import ClaimView, FeedPost, Observation
from engine.text import shorten

_SPOKESPERSON = (
    "Speaking for {entity}: ",
    "{entity}'s position, plainly: ",
    "Our view at {entity}: ",
    "On behalf of {entity}: ",
    "",
)
_CLOSE = (
    "As someone close to {entity}, ",
    "From inside {entity}'s camp: ",
    "With {entity} on this one: ",
    "",
    "Honest take: ",
    "Quick thought: ",
    "For what it's worth: ",
    "",
)
_CONTRARIAN = ("Unpopular opinion: ", "Everyone is missing this: ", "Against the grain here: ")
_STUBBORN = ("I've said it before: ", "Nothing has changed my mind: ", "Same as last week: ")
_CAUTIOUS = ("Carefully, ", "Not overclaiming, but ", "Tentatively: ")
_FRAMES = (
    "{source} says: “{claim}”",
    "Per {source}: {claim}",
    "Fact: {claim}",
    "Remember: {claim}",
    "The key detail: {claim}",
    "Look at this — {claim}",
    "Worth repeating: {claim}",
    "{claim}",
    "Nobody is pricing this in: {claim}",
    "Read it again: {claim}",
    "From {source}: {claim}",
    "This matters more than the headlines: {claim}",
)
_SUPPORTS_YES = (
    "That's why I'm at {pct}% yes.",
    "It points to yes; I'd say {pct}%.",
    "Hard to read that as anything but a yes ({pct}%).",
    "Adds up to {pct}% for me.",
    "I'm buying the yes case: {pct}%.",
    "Yes is the better bet, {pct}%.",
)
_SUPPORTS_NO = (
    "That's why I'm at {pct}%, a no.",
    "It doesn't happen on these facts: {pct}% at best.",
    "That alone keeps me at {pct}%.",
    "No from me; {pct}% is generous.",
    "The no case writes itself: {pct}%.",
    "Count me on the no side ({pct}%).",
)
_CONCEDE = (
    "Fair point against my view, but I'm still at {pct}%.",
    "It cuts against me; I'll only move to {pct}%.",
    "I take the point. Still {pct}%.",
    "Noted, and it costs my view a little: {pct}%.",
)
_TORN = (
    "Still torn: {pct}%.",
    "It makes this closer; call it {pct}%.",
    "Could go either way, {pct}%.",
    "I'm near the middle at {pct}%.",
)
_AGREE = (
    "@{author} Right, and there's more: {claim}",
    "@{author} Exactly. Add this: {claim}",
    "@{author} Agreed — and {claim}",
    "@{author} Well put. Also: {claim}",
)
_AGREE_PLAIN = (
    "@{author} Agreed: “{their}” is the point.",
    "@{author} Exactly right on “{their}”.",
    "@{author} This. “{their}” settles a lot.",
)
_DISAGREE = (
    "@{author} “{their}” doesn't settle it: {claim}",
    "@{author} You leave out that {claim}",
    "@{author} On “{their}”: maybe, but {claim}",
    "@{author} Respectfully, no. {claim}",
    "@{author} That's half the story. {claim}",
)
_DISAGREE_PLAIN = (
    "@{author} I don't buy “{their}”.",
    "@{author} “{their}” proves less than you think.",
    "@{author} Respectfully, “{their}” is not the whole picture.",
)


def pick(options: tuple[str, ...], u: float) -> str:
    return options[int(u * len(options)) % len(options)]


def opener(obs: Observation, u: float) -> str:
    """How this persona starts: as its stakeholder's voice, a member of its camp, or by temperament."""
    t = obs.traits
    if t.get("contrarianism", 0.0) > 0.35 and u < 0.5:
        return pick(_CONTRARIAN, u * 2)
    if t.get("stubbornness", 0.0) > 0.7 and u < 0.4:
        return pick(_STUBBORN, u * 2.5)
    if t.get("risk_appetite", 0.5) < 0.2 and u < 0.4:
        return pick(_CAUTIOUS, u * 2.5)
    principal = obs.agent_name == obs.entity_name
    return pick(_SPOKESPERSON if principal else _CLOSE, u).format(entity=obs.entity_name)


def percent(position: float) -> int:
    return int(round(50.0 * (1.0 + max(-1.0, min(1.0, position)))))


def verdict(claim_stance: float, position: float, u: float) -> str:
    pct = percent(position)
    if abs(position) < 0.12:
        return pick(_TORN, u).format(pct=pct)
    if claim_stance * position < 0:
        return pick(_CONCEDE, u).format(pct=pct)
    return pick(_SUPPORTS_YES if position > 0 else _SUPPORTS_NO, u).format(pct=pct)


_PLAIN_FRAMES = ("{source} says: “{claim}”", "Per {source}: {claim}", "{claim}", "From {source}: {claim}")


def frame(claim: ClaimView, u: float, limit: int = 170, plain: bool = False) -> str:
    """The claim, attributed and framed; `plain` when an opener already leads in."""
    source = claim.source if claim.source != "the seed" else "the record"
    options: tuple[str, ...] = _PLAIN_FRAMES if plain else _FRAMES
    if source in claim.text:  # "Per NTSB: The NTSB has ..." says it twice: use a frame without the source
        options = tuple(f for f in options if "{source}" not in f)
    return pick(options, u).format(source=source, claim=shorten(claim.text, limit).rstrip("."))


def _end(text: str) -> str:
    return text if text.endswith((".", "!", "?", "”", '"', "…")) else text + "."


def choose_claim(
    claims: list[ClaimView], position: float, u: float, *, against: float | None = None
) -> ClaimView | None:
    """A claim to argue: mostly ones that support the agent's view, stronger ones more often.

    With `against` set, only claims pointing the other way from that stance (a counter-claim).
    """
    weights = []
    for c in claims:
        if against is not None:
            w = abs(c.stance) if c.stance * against < 0 and abs(c.stance) >= 0.1 else 0.0
        else:
            agree = c.stance * position >= 0
            w = (0.15 + abs(c.stance)) * (2.0 if agree else 0.5) if abs(c.stance) >= 0.1 else 0.05
        weights.append(w)
    total = sum(weights)
    if total <= 0:
        return None
    target, acc = u * total, 0.0
    for c, w in zip(claims, weights, strict=True):
        acc += w
        if acc >= target and w > 0:
            return c
    return next(c for c, w in zip(reversed(claims), reversed(weights), strict=True) if w > 0)


def post(obs: Observation, claim: ClaimView | None, u1: float, u2: float, u3: float) -> str:
    """A post in the persona's voice arguing `claim` (or only its view when it knows none)."""
    start = opener(obs, u2)
    if claim is None:
        return start + pick(
            _TORN if abs(obs.position) < 0.12 else (_SUPPORTS_YES if obs.position > 0 else _SUPPORTS_NO), u3
        ).format(pct=percent(obs.position))
    body = frame(claim, u1, plain=bool(start))
    if start and start.endswith(", ") and body[:1].isupper() and not body[1:2].isupper():
        body = body[0].lower() + body[1:]
    return f"{start}{_end(body)} {verdict(claim.stance, obs.position, u3)}"


def reply(
    obs: Observation,
    target: FeedPost,
    their: ClaimView | None,
    mine: ClaimView | None,
    agree: bool,
    u1: float,
    u2: float,
) -> str:
    """A reply that answers the claim of `target`: support with another claim, or a counter-claim."""
    their_text = shorten(their.text if their else target.text, 70).rstrip(".")
    if mine is not None:
        text = pick(_AGREE if agree else _DISAGREE, u1).format(
            author=target.author_name, their=their_text, claim=shorten(mine.text, 150).rstrip(".")
        )
    else:
        text = pick(_AGREE_PLAIN if agree else _DISAGREE_PLAIN, u1).format(
            author=target.author_name, their=their_text
        )
    return f"{text} ({percent(obs.position)}%)" if u2 < 0.5 else text
