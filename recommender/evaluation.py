"""Offline evaluation: hold data out, train on the rest, rank, and score against baselines.

Two splits:

- **time** (default): everything in the last ``holdout`` of the data window is
  held out; the model and the baselines see only what came before.
- **leave-last-k**: for every user with more than ``k`` distinct products, the
  interactions with their ``k`` most recent products are held out.

A test user is one known at training time with at least one held-out product
they had not already bought (bought items are never recommended, so they are
never counted as relevant either).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from scipy.sparse import csr_matrix

from models.durations import parse_seconds, spell
from models.errors import ShopstreamError
from recommender.als import AlsParams, train_als
from recommender.baselines import popularity, recent_popularity, top_items
from recommender.interactions import DAY_MS, REFUND, Interactions
from recommender.matrix import Weights, purchased_matrix, row_items, user_item_matrix
from recommender.ranking import K, summarize

Progress = Callable[[str], None]
AUTO_MAX_MS = 7 * DAY_MS
AUTO_SHARE = 0.2
RECENT_SHARE = 0.1  # recency-weighted popularity: half-life = 10% of the window, at most a day


class Baselines(TypedDict):
    popularity: dict[str, float]
    recent_popularity: dict[str, float]


class Evaluation(TypedDict):
    """What :func:`evaluate` returns: metrics (name -> value, see ``recommender.ranking``) of the
    model and of the baselines, and what they were measured on."""
    model: dict[str, float]
    baselines: Baselines
    n_users: int
    n_items: int
    n_test_users: int
    split: str


@dataclass(frozen=True)
class Split:
    train: Interactions
    relevant: dict[int, set[int]]  # test user -> held-out products not bought before
    as_of_ms: int                  # the training side's "now"
    description: str


def parse_duration(text: str) -> int:
    """``7d``, ``12h``, ``30m``, ``90s`` or a bare number of days, in milliseconds."""
    return int(parse_seconds(text, default_unit="d") * 1000)


def resolve_holdout(text: str, span_ms: int) -> int:
    """``auto`` is 7 days, or 20% of the data window when that is shorter."""
    if text == "auto":
        return int(min(AUTO_MAX_MS, span_ms * AUTO_SHARE))
    return parse_duration(text)


def bought(purchased: csr_matrix, user: int) -> set[int]:
    return set(row_items(purchased, user).tolist())


def _split(train: Interactions, test: Interactions, as_of_ms: int, description: str) -> Split:
    known = set(np.unique(train.users).tolist())
    purchased = purchased_matrix(train)
    relevant: dict[int, set[int]] = {}
    positive = test.kinds != REFUND
    for user, item in zip(test.users[positive].tolist(), test.items[positive].tolist(), strict=True):
        if user in known:
            relevant.setdefault(user, set()).add(item)
    for user in list(relevant):
        relevant[user] -= bought(purchased, user)
        if not relevant[user]:
            del relevant[user]
    return Split(train, relevant, as_of_ms, description)


def time_split(inter: Interactions, holdout_ms: int) -> Split:
    cut = inter.end_ms - holdout_ms
    return _split(inter.subset(inter.times < cut), inter.subset(inter.times >= cut), cut,
                  f"time: the last {spell(holdout_ms)} of a "
                  f"{spell(inter.end_ms - inter.start_ms)} window held out")


def leave_last_split(inter: Interactions, k: int) -> Split:
    """Per user with more than k distinct products: everything from the latest interaction
    with their k-th most recent product on is held out."""
    never = np.iinfo(np.int64).max
    cutoff = np.full(inter.n_users, never, dtype=np.int64)
    kth_time = np.full(inter.n_users, never, dtype=np.int64)
    order = np.lexsort((-inter.times, inter.users))  # by user, newest first
    latest: dict[int, list[int]] = {}  # user -> distinct products, newest first (k + 1 at most)
    for row in order.tolist():
        user, item = int(inter.users[row]), int(inter.items[row])
        items = latest.setdefault(user, [])
        if len(items) > k or item in items:
            continue
        items.append(item)
        if len(items) == k:
            kth_time[user] = inter.times[row]
        elif len(items) == k + 1:  # something older is left to learn from
            cutoff[user] = kth_time[user]
    test_mask = inter.times >= cutoff[inter.users]
    return _split(inter.subset(~test_mask), inter.subset(test_mask), inter.end_ms,
                  f"leave-last-{k}: each user's {k} most recent products held out")


def recommend_als(model: object, users: list[int], purchased: csr_matrix, k: int) -> dict[int, list[int]]:
    if not users:
        return {}
    ids, scores = model.recommend(np.asarray(users), purchased[users], N=k,  # type: ignore[attr-defined]
                                  filter_already_liked_items=True)
    return {user: [int(i) for i, s in zip(row_ids, row_scores, strict=True) if np.isfinite(s)]
            for user, row_ids, row_scores in zip(users, ids, scores, strict=True)}


def recommend_by_scores(scores: np.ndarray, users: list[int], purchased: csr_matrix,
                        k: int) -> dict[int, list[int]]:
    return {user: top_items(scores, k, bought(purchased, user)) for user in users}


def evaluate(split: Split, weights: Weights, params: AlsParams, n_users: int, n_items: int,
             progress: Progress = lambda _: None, k: int = K) -> Evaluation:
    """Metrics of ALS and of both baselines on ``split``."""
    users = sorted(split.relevant)
    if len(split.train) == 0 or not users:
        raise ShopstreamError(
            f"not enough data to evaluate ({split.description}): {len(split.train)} training "
            f"interactions, {len(users)} test users; hold out less, or let more events arrive")
    progress(f"evaluating on {split.description}: {len(split.train):,} training interactions, "
             f"{len(users):,} test users")
    matrix = user_item_matrix(split.train, weights, split.as_of_ms)
    purchased = purchased_matrix(split.train)
    model = train_als(matrix, params, progress)
    recent_half_life_ms = min(DAY_MS, max(1, split.train.end_ms - split.train.start_ms) * RECENT_SHARE)
    candidates = {
        "model": recommend_als(model, users, purchased, k),
        "popularity": recommend_by_scores(popularity(split.train), users, purchased, k),
        "recent_popularity": recommend_by_scores(
            recent_popularity(split.train, weights, split.as_of_ms, recent_half_life_ms),
            users, purchased, k),
    }
    scored = {name: summarize(recs, split.relevant, n_items, k) for name, recs in candidates.items()}
    return {
        "model": scored["model"],
        "baselines": {"popularity": scored["popularity"],
                      "recent_popularity": scored["recent_popularity"]},
        "n_users": n_users, "n_items": n_items, "n_test_users": len(users),
        "split": split.description,
    }
