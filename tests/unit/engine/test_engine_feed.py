"""Feed ranking and platform validation (docs/engine.md §3)."""

from __future__ import annotations

import numpy as np

from engine.feed import CLONE_PROMINENCE, FEED_SIZE, prominence_prior, rank_feeds
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


def _mean_rank(
    plat: Platform, reader: int, positions: np.ndarray, rnd: int, draws: int = 200, **kw: object
) -> dict[int, float]:
    """Average position of each post in the reader's feed over many generators (absent = FEED_SIZE)."""
    total: dict[int, float] = {}
    for d in range(draws):
        row = rank_feeds(plat, np.array([reader]), positions, rnd, rng=np.random.default_rng([7, d]), **kw)[0]
        ranks = {int(p): r for r, p in enumerate(row) if p >= 0}
        for p in range(plat.count):
            total[p] = total.get(p, 0.0) + ranks.get(p, FEED_SIZE)
    return {p: v / draws for p, v in total.items()}


def test_recency_popularity_and_follows_rank_higher() -> None:
    plat = _platform()
    ranks = _mean_rank(plat, 0, np.zeros(5), rnd=4)
    newest = [p for p in range(30) if plat.cols["round"][p] == 3 and plat.cols["author"][p] != 0]
    oldest = [p for p in range(1, 10) if plat.cols["author"][p] != 0]
    assert np.mean([ranks[p] for p in newest]) < np.mean([ranks[p] for p in oldest]) - 3
    for voter in (1, 2, 3, 4):
        plat.vote(voter, 0, 1)
    plat.repost(2, 0)
    ranks = _mean_rank(plat, 4, np.zeros(5), rnd=4)
    peers = [p for p in range(1, 10) if plat.cols["author"][p] != 4]
    assert ranks[0] < min(ranks[p] for p in peers)  # an old but popular post climbs above its peers
    plat.follow(0, 3, rnd=3)
    ranks = _mean_rank(plat, 0, np.zeros(5), rnd=4)
    by_author = {
        a: np.mean([ranks[p] for p in range(30) if plat.cols["author"][p] == a]) for a in (1, 2, 3, 4)
    }
    assert min(by_author, key=by_author.__getitem__) == 3


def test_echo_chamber_prefers_agreeing_posts() -> None:
    plat = Platform(3)
    plat.create_post(author=1, rnd=1, text="yes", stance=0.9)
    plat.create_post(author=2, rnd=1, text="no", stance=-0.9)
    yes_reader = _mean_rank(plat, 0, np.array([0.8, 0.0, 0.0]), rnd=2)
    no_reader = _mean_rank(plat, 0, np.array([-0.8, 0.0, 0.0]), rnd=2)
    assert yes_reader[0] < yes_reader[1] and no_reader[1] < no_reader[0]


def test_ties_are_broken_at_random_never_by_index() -> None:
    """Forty identical posts (same round, stance, counters): every author is on top about as often."""
    n = 41
    plat = Platform(n)
    for a in range(1, n):
        plat.create_post(author=a, rnd=1, text="same", stance=0.0)
    top = np.zeros(n - 1)
    for d in range(400):
        row = rank_feeds(plat, np.array([0]), np.zeros(n), rnd=2, rng=np.random.default_rng([3, d]), size=5)[
            0
        ]
        top[row] += 1
    share_low = top[: (n - 1) // 2].sum() / top.sum()
    assert 0.42 < share_low < 0.58  # the first half of the authors gets half of the top places
    assert top.min() > 0.3 * top.mean()  # nobody is starved


def _engagement_loop(
    order: np.ndarray, rounds: int = 10, likes_per_reader: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """A minimal platform: every round each agent (in `order`) posts, then likes the top of its feed.

    Returns the engagement received per agent and per post round. The agents are identical, so any
    systematic difference between them is the ranking's doing.
    """
    n = len(order)
    plat = Platform(n)
    last_read = np.full(n, -1, dtype=np.int64)
    readers = np.arange(n)
    for rnd in range(1, rounds + 1):
        feeds = rank_feeds(
            plat, readers, np.zeros(n), rnd, rng=np.random.default_rng([5, rnd]), last_read=last_read
        )
        for a in order:
            plat.create_post(author=int(a), rnd=rnd, text="same", stance=0.0)
        for r, a in enumerate(readers):
            for p in feeds[r][:likes_per_reader]:
                if p >= 0:
                    plat.vote(int(a), int(p), 1)
        last_read[:] = rnd
    likes = plat.col("likes").astype(float)
    per_agent = np.bincount(plat.col("author"), weights=likes, minlength=n)
    per_round = np.bincount(plat.col("round"), weights=likes, minlength=rounds + 1)
    return per_agent, per_round


def test_engagement_does_not_follow_the_agent_index() -> None:
    n = 60
    forward, _ = _engagement_loop(np.arange(n))
    backward, _ = _engagement_loop(np.arange(n)[::-1])
    for per_agent in (forward, backward):
        share = per_agent / per_agent.sum()
        assert 0.4 < share[: n // 2].sum() < 0.6  # identical agents: low and high indices alike
        assert share.max() < 5.0 / n  # no agent collects five times its fair share
        assert np.sort(share)[::-1][: max(1, n // 20)].sum() < 0.25  # top 5% of agents


def test_later_posts_surface() -> None:
    _, per_round = _engagement_loop(np.arange(60), rounds=10)
    share = per_round / per_round.sum()
    assert share[1] < 0.25  # the first round's posts do not hold every feed
    assert share[6:].sum() > 0.3  # posts of the second half of the run are read and liked
    assert all(share[r] > 0 for r in range(1, 10))


def test_seen_posts_rank_below_new_ones() -> None:
    plat = Platform(3)
    plat.create_post(author=1, rnd=2, text="old", stance=0.0)
    plat.create_post(author=2, rnd=3, text="new", stance=0.0)
    never = _mean_rank(plat, 0, np.zeros(3), rnd=4, last_read=np.array([-1, -1, -1]))
    visited = _mean_rank(plat, 0, np.zeros(3), rnd=4, last_read=np.array([3, -1, -1]))
    assert visited[0] - visited[1] > never[0] - never[1]


def test_prominence_follows_stakeholder_salience() -> None:
    entity_index = np.array([0, 1, 0, 0, 1, 1])
    prior = prominence_prior(entity_index, [4.0, 1.0])
    assert prior[0] == 1.0 and prior[1] == 0.25  # principals: salience relative to the most salient
    assert np.allclose(prior[[2, 3]], CLONE_PROMINENCE) and np.allclose(
        prior[[4, 5]], 0.25 * CLONE_PROMINENCE
    )
    assert not prominence_prior(entity_index, [0.0, 0.0]).any()
    plat = Platform(6)
    plat.create_post(author=0, rnd=1, text="salient", stance=0.0)
    plat.create_post(author=1, rnd=1, text="minor", stance=0.0)
    ranks = _mean_rank(plat, 5, np.zeros(6), rnd=2, prominence=prior)
    assert ranks[0] < ranks[1]


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
