"""Holding data out (pure).

Two splits:

- **time** (default): everything in the last ``holdout`` of the data window is
  held out; the model and the baselines see only what came before.
- **leave-last-k**: for every user with more than ``k`` distinct products, the
  interactions with their ``k`` most recent products are held out.

A test user is one known at training time with at least one held-out product. Unless
repeat purchases apply (``recommender.repeat``), products the user already bought are
never recommended, so they are not counted as relevant either. The validation split that
selects a model is the same kind of split again, cut from the training side only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from models.durations import parse_seconds, spell
from models.errors import ShopstreamError
from recommender.interactions import DAY_MS, REFUND, Interactions
from recommender.matrix import purchased_matrix, row_items

AUTO_MAX_MS = 7 * DAY_MS
AUTO_SHARE = 0.2
MIN_VALIDATION_USERS = 20  # fewer cannot tell candidates apart


@dataclass(frozen=True)
class Split:
    train: Interactions
    relevant: dict[int, set[int]]  # test user -> held-out products (not bought before, unless
    as_of_ms: int                  # repeat purchases apply); as_of: the training side's "now"
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


def _split(train: Interactions, test: Interactions, as_of_ms: int, description: str,
           repeat: bool = False) -> Split:
    known = set(np.unique(train.users).tolist())
    purchased = purchased_matrix(train)
    relevant: dict[int, set[int]] = {}
    positive = test.kinds != REFUND
    for user, item in zip(test.users[positive].tolist(), test.items[positive].tolist(), strict=True):
        if user in known:
            relevant.setdefault(user, set()).add(item)
    if not repeat:
        for user in list(relevant):
            relevant[user] -= bought(purchased, user)
            if not relevant[user]:
                del relevant[user]
    return Split(train, relevant, as_of_ms, description)


def time_split(inter: Interactions, holdout_ms: int, repeat: bool = False) -> Split:
    cut = inter.end_ms - holdout_ms
    return _split(inter.subset(inter.times < cut), inter.subset(inter.times >= cut), cut,
                  f"time: the last {spell(holdout_ms)} of a "
                  f"{spell(inter.end_ms - inter.start_ms)} window held out", repeat)


def leave_last_split(inter: Interactions, k: int, repeat: bool = False) -> Split:
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
                  f"leave-last-{k}: each user's {k} most recent products held out", repeat)


@dataclass(frozen=True)
class SplitPlan:
    """How to hold data out: a time span at the end (``holdout``), or each user's last
    ``leave_last`` products."""
    holdout: str = "auto"
    leave_last: int | None = None

    def test(self, inter: Interactions, repeat: bool) -> Split:
        if self.leave_last is not None:
            if self.leave_last < 1:
                raise ShopstreamError("--leave-last must be at least 1")
            return leave_last_split(inter, self.leave_last, repeat)
        return time_split(inter, self._holdout(inter), repeat)

    def validation(self, train: Interactions, repeat: bool) -> Split:
        """The same kind of split again, cut from the training side only. When a time split
        leaves fewer than :data:`MIN_VALIDATION_USERS` users to validate on (short windows
        of short sessions: few shoppers come back across the cut), each training user's
        last product is held out instead, if that gives more."""
        if self.leave_last is not None:
            return leave_last_split(train, self.leave_last, repeat)
        span = train.end_ms - train.start_ms
        holdout = (resolve_holdout("auto", span) if self.holdout == "auto"
                   else min(self._holdout(train), span // 2))
        split = time_split(train, holdout, repeat)
        if len(split.relevant) < MIN_VALIDATION_USERS:
            last = leave_last_split(train, 1, repeat)
            if len(last.relevant) > len(split.relevant):
                return Split(last.train, last.relevant, last.as_of_ms,
                             f"{last.description} (a time split left {len(split.relevant)} "
                             "users to validate on)")
        return split

    def _holdout(self, inter: Interactions) -> int:
        try:
            return resolve_holdout(self.holdout, inter.end_ms - inter.start_ms)
        except ValueError as exc:
            raise ShopstreamError(str(exc)) from exc


