"""Saving and loading any fitted scorer as plain arrays (the registry's ``.npz`` files)."""

from __future__ import annotations

import numpy as np

from recommender.als import AlsScorer
from recommender.content import ContentScorer
from recommender.knn import KnnScorer
from recommender.scorers import BlendScorer, BuyAgainScorer, PopularityScorer, Scorer


def scorer_arrays(scorer: Scorer) -> dict[str, np.ndarray]:
    return {**scorer.arrays(), "family": np.asarray(scorer.family)}


def load_scorer(arrays: dict[str, np.ndarray]) -> Scorer:
    family = str(arrays["family"])
    if family in ("popularity", "recent_popularity"):
        return PopularityScorer(arrays["values"], family)
    if family == "als":
        return AlsScorer.from_arrays(arrays)
    if family == "item_knn":
        return KnnScorer.from_arrays(arrays)
    if family == "content":
        return ContentScorer.from_arrays(arrays)
    if family == "buy_again":
        return BuyAgainScorer.from_arrays(arrays)
    if family == "blend":
        first = {k.removeprefix("first."): v for k, v in arrays.items() if k.startswith("first.")}
        then = {k.removeprefix("then."): v for k, v in arrays.items() if k.startswith("then.")}
        return BlendScorer(BuyAgainScorer.from_arrays(first), load_scorer(then))
    raise ValueError(f"unknown recommender family {family!r} in a saved model")
