"""Previews of a round's newest posts for live views (the worker's `round` progress events).

Cheap and deterministic: it reads only the platform's post columns of the round just finished, so
a 10,000-agent round costs one vectorised scan, and the same run gives the same previews.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from contracts.worker import POST_PREVIEW_CHARS, POST_PREVIEW_LIMIT, PostPreview

if TYPE_CHECKING:
    from engine.world import World


def round_post_previews(world: World, rnd: int, limit: int = POST_PREVIEW_LIMIT) -> list[PostPreview]:
    """Up to `limit` of round `rnd`'s top-level posts (no replies), newest (highest index) first."""
    plat = world.platform
    rounds, parents = plat.col("round"), plat.col("parent")
    newest = np.flatnonzero((rounds == rnd) & (parents < 0))[::-1][:limit]
    claims = [c.claim_id for c in world.reading.claims]
    out: list[PostPreview] = []
    for idx in newest.tolist():
        agent = int(plat.cols["author"][idx])
        entity = int(world.pop.entity_index[agent])
        claim = int(plat.claim[idx])
        out.append(
            PostPreview(
                post_id=world.post_id(idx),
                author=str(world.pop.names[agent]),
                stakeholder=world.entities[entity].name if 0 <= entity < len(world.entities) else "",
                text=plat.texts[idx][:POST_PREVIEW_CHARS],
                stance=round(float(plat.stance[idx]), 4),
                claim_id=claims[claim] if 0 <= claim < len(claims) else "",
            )
        )
    return out
