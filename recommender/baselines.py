"""The baselines a model must beat: popularity, and recency-weighted popularity (pure)."""

from __future__ import annotations

import numpy as np

from recommender.interactions import Interactions
from recommender.matrix import Weights, decay, interaction_weights


def popularity(train: Interactions) -> np.ndarray:
    """Per item: how many distinct users interacted with it."""
    pairs = np.unique(np.stack([train.users, train.items]), axis=1)
    return np.bincount(pairs[1], minlength=train.n_items).astype(np.float64)


def recent_popularity(train: Interactions, weights: Weights, as_of_ms: int,
                      half_life_ms: float) -> np.ndarray:
    """Per item: interaction weights summed with a short half-life, so what is hot now wins."""
    values = interaction_weights(train, Weights(**{**weights.as_dict(), "half_life_days": 1e9}),
                                 as_of_ms)
    values = values * decay(train.times, as_of_ms, half_life_ms)
    return np.bincount(train.items, weights=values, minlength=train.n_items)


def top_items(scores: np.ndarray, n: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """The ``n`` best-scoring item codes, ties by lower code, skipping ``exclude``
    and items with no positive score."""
    order = np.lexsort((np.arange(scores.shape[0]), -scores))
    out: list[int] = []
    for item in order:
        if scores[item] <= 0:
            break
        if int(item) in exclude:
            continue
        out.append(int(item))
        if len(out) == n:
            break
    return out
