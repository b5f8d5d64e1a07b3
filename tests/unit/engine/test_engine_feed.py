"""Feed ranking and platform validation (docs/engine.md §3)."""

from __future__ import annotations

import numpy as np

from engine.feed import FEED_SIZE, rank_feeds
from engine.social import Platform


def _platform() -> Platform:
    plat = Platform(5)
    for i in range(30):
        plat.create_post(author=i % 5, rnd=1 + i // 10, text=f"post {i}", stance=0.0)
    return plat


def test_feed_has_at_most_n_top_level_posts_never_ones_own() -> None:
    plat = _platform()
    plat.reply(author=1, rnd=3, post=0, text="a reply", stance=0.0)
    feeds = rank_feeds(plat, np.array([0, 1]), np.zeros(5), rnd=4)
    assert feeds.shape == (2, FEED_SIZE)
    for row, reader in zip(feeds, (0, 1), strict=True):
        posts = [p for p in row if p >= 0]
        assert len(posts) == FEED_SIZE and len(set(posts)) == len(posts)
        assert all(plat.cols["author"][p] != reader for p in posts)
        assert all(plat.cols["parent"][p] < 0 for p in posts)


def test_recency_popularity_and_follows_rank_higher() -> None:
    plat = _platform()
    feed = [p for p in rank_feeds(plat, np.array([0]), np.zeros(5), rnd=4)[0] if p >= 0]
    assert plat.cols["round"][feed[0]] == 3  # newest first when nothing else differs
    for voter in (1, 2, 3, 4):
        plat.vote(voter, 0, 1) if plat.cols["author"][0] != voter else None
    plat.repost(2, 0)
    feed = [p for p in rank_feeds(plat, np.array([4]), np.zeros(5), rnd=4)[0] if p >= 0]
    assert feed.index(0) < 5  # an old but popular post climbs
    plat.follow(0, 3, rnd=3)
    feed = [p for p in rank_feeds(plat, np.array([0]), np.zeros(5), rnd=4)[0] if p >= 0]
    assert plat.cols["author"][feed[0]] == 3


def test_echo_chamber_prefers_agreeing_posts() -> None:
    plat = Platform(3)
    plat.create_post(author=1, rnd=1, text="yes", stance=0.9)
    plat.create_post(author=2, rnd=1, text="no", stance=-0.9)
    top = rank_feeds(plat, np.array([0, 0]), np.array([0.8, 0.0, 0.0]), rnd=2)[:, 0]
    assert top[0] == 0
    assert rank_feeds(plat, np.array([0]), np.array([-0.8, 0.0, 0.0]), rnd=2)[0, 0] == 1


def test_platform_validation() -> None:
    plat = _platform()
    assert plat.vote(1, 0, 1) is None
    assert plat.vote(1, 0, -1) == "already voted on this post"
    assert plat.vote(0, 0, 1) == "cannot vote on your own post"
    assert "value must be" in (plat.vote(2, 0, True) or "")
    assert plat.repost(1, 0) is None and plat.repost(1, 0) == "already reposted this post"
    assert plat.follow(1, 1, 1) == "cannot follow yourself"
    assert plat.follow(1, 2, 1) is None and plat.follow(1, 2, 2) == "already following this agent"
    assert plat.post_index("p3") == 3 and plat.post_index("p999") == -1 and plat.post_index(3) == -1
    assert plat.following(1) == [2]
    again = Platform.from_state(plat.state())
    assert again.following(1) == [2] and again.my_vote(1, 0) == 1 and again.count == plat.count
