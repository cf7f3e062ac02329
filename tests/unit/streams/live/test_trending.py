"""Trending updates coalesced per product until the commit give the scores that applying
each update would."""

from __future__ import annotations

import random

import pytest

from streams.live.events import TrendUpdate
from streams.live.trending import HOUR_MS, TrendBuffer, Trending

H = 6 * HOUR_MS
T0 = 1_767_225_600_000


def updates(seed: int, n: int) -> list[TrendUpdate]:
    rng = random.Random(seed)
    # out of order on purpose: events of one product may come from several shoppers
    return [TrendUpdate("t1", f"p{rng.randrange(5)}", "shoes", rng.choice([1.0, 3.0, 5.0]),
                        T0 + rng.randrange(0, 4 * H)) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_coalesced_updates_score_as_the_updates_one_by_one(seed: int) -> None:
    stream = updates(seed, 400)
    one_by_one, coalesced = Trending(H), Trending(H)
    for u in stream:
        one_by_one.add(u.tenant, u.product, u.category, u.weight, u.ts)
    buffer = TrendBuffer(H)
    for start in range(0, len(stream), 37):  # commits every 37 updates
        batch = stream[start:start + 37]
        buffer.add(partition=start % 3, updates=batch)
        drained = buffer.drain()
        assert sorted(u.product for u in drained) == sorted({u.product for u in batch})
        assert all(u.ts == max(b.ts for b in batch if b.product == u.product) for u in drained)
        for u in drained:
            coalesced.add(u.tenant, u.product, u.category, u.weight, u.ts)
    assert one_by_one.scores.keys() == coalesced.scores.keys()
    later = T0 + 5 * H
    for key, entry in one_by_one.scores.items():
        assert coalesced.scores[key].at(later, H) == pytest.approx(entry.at(later, H), rel=1e-12)


def test_a_dropped_partition_sends_nothing() -> None:
    buffer = TrendBuffer(H)
    buffer.add(1, [TrendUpdate("t1", "p1", "", 1.0, T0)])
    buffer.add(2, [TrendUpdate("t1", "p2", "", 3.0, T0), TrendUpdate("t1", "p2", "", 5.0, T0)])
    buffer.drop(1)
    assert buffer.pending()
    assert buffer.drain() == [TrendUpdate("t1", "p2", "", 8.0, T0)]
    assert not buffer.pending() and buffer.drain() == []
