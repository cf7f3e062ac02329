"""Who and what an evaluation is broken down by (pure): all test users, cold users (one or
two interactions on the training side), heavy users (the most active tenth, at least three
interactions), and cold items (held-out products no one touched on the training side)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recommender.interactions import Interactions

COLD_MAX = 2         # a user with at most this many interactions is cold
HEAVY_QUANTILE = 0.9
USER_SLICES = ("all", "cold_users", "heavy_users")


def activity(inter: Interactions) -> np.ndarray:
    """Interactions per user code."""
    return np.bincount(inter.users, minlength=inter.n_users)


def heavy_threshold(counts: np.ndarray) -> float:
    active = counts[counts > 0]
    if active.size == 0:
        return float("inf")
    return max(float(np.quantile(active, HEAVY_QUANTILE)), COLD_MAX + 1.0)


def user_slices(users: list[int], counts: np.ndarray) -> dict[str, list[int]]:
    heavy = heavy_threshold(counts)
    return {"all": users,
            "cold_users": [u for u in users if counts[u] <= COLD_MAX],
            "heavy_users": [u for u in users if counts[u] >= heavy]}


def cold_item_relevance(relevant: Mapping[int, set[int]],
                        popularity: np.ndarray) -> dict[int, set[int]]:
    """Per test user: only their held-out products that no one touched in training (users
    without such a product are left out)."""
    out: dict[int, set[int]] = {}
    for user, items in relevant.items():
        cold = {i for i in items if popularity[i] == 0}
        if cold:
            out[user] = cold
    return out
