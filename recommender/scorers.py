"""What every candidate model is once fitted: a scorer that gives each asked-for user a score
per product (pure numpy/scipy), and the top-k choice with exclusions.

A scorer answers ``scores(users, rows)`` for a batch: ``users`` are user codes and ``rows``
their rows of the confidence matrix (users x items), which the neighbour and content models
score from; the result is a dense float32 array, one row per user. ``arrays()`` is what the
registry saves (``.npz``, no pickles); ``families.load_scorer`` reads it back.

The simple families live here: popularity (and recent popularity), buy again, and the blend
of buy again with another model.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy.sparse import csr_matrix

TIE_BREAK = 1e-6  # a share of popularity added where a model scores items alike (zero)


class Scorer(Protocol):
    family: str

    def scores(self, users: np.ndarray, rows: csr_matrix) -> np.ndarray: ...

    def arrays(self) -> dict[str, np.ndarray]: ...


def normalized(values: np.ndarray) -> np.ndarray:
    """Scaled into [0, 1] by the largest value (all zeros stay zeros)."""
    top = float(values.max()) if values.size else 0.0
    return (values / top if top > 0 else np.zeros_like(values)).astype(np.float32)


def top_k(scores: np.ndarray, k: int, exclude: csr_matrix | None = None) -> list[list[int]]:
    """Per row: the item codes of the ``k`` best scores, best first, leaving out the items
    stored in the same row of ``exclude`` (e.g. what the user bought)."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None and exclude.nnz:
        coo = exclude.tocoo()
        scores[coo.row, coo.col] = -np.inf
    k = min(k, scores.shape[1])
    if k <= 0:
        return [[] for _ in range(scores.shape[0])]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -picked), axis=1)  # best first, ties by lower code
    ranked = np.take_along_axis(part, order, axis=1)
    kept = np.isfinite(np.take_along_axis(picked, order, axis=1))
    return [row[keep].tolist() for row, keep in zip(ranked, kept, strict=True)]


class PopularityScorer:
    """The same list for everyone (``popularity`` or ``recent_popularity``)."""

    def __init__(self, values: np.ndarray, family: str = "popularity") -> None:
        self.values, self.family = normalized(np.asarray(values, dtype=np.float64)), family

    def scores(self, users: np.ndarray, rows: csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.values, (len(users), self.values.shape[0])).copy()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"values": self.values}


class BuyAgainScorer:
    """What the user bought before, by a buy-again score (purchases, each halving with age,
    summed: frequency and recency), ahead of everything else; the rest by popularity."""

    family = "buy_again"

    def __init__(self, again: csr_matrix, popularity: np.ndarray) -> None:
        self.again = again.tocsr().astype(np.float32)
        self.popularity = normalized(np.asarray(popularity, dtype=np.float64))

    def scores(self, users: np.ndarray, rows: csr_matrix) -> np.ndarray:
        return first_then(self.again[users].toarray(), self.popularity[None, :])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"again_data": self.again.data, "again_indices": self.again.indices,
                "again_indptr": self.again.indptr, "again_shape": np.asarray(self.again.shape),
                "popularity": self.popularity}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> BuyAgainScorer:
        again = csr_matrix((a["again_data"], a["again_indices"], a["again_indptr"]),
                           shape=(int(a["again_shape"][0]), int(a["again_shape"][1])))
        return cls(again, a["popularity"])


def first_then(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Items with a positive ``first`` score ahead of all others (by that score), the others
    by ``then`` scaled per row into [0, 1)."""
    top = first.max(axis=1, keepdims=True)
    ahead = 2.0 + first / np.where(top > 0, top, 1.0)
    then = np.broadcast_to(then, first.shape)
    low, high = then.min(axis=1, keepdims=True), then.max(axis=1, keepdims=True)
    rest = (then - low) / np.where(high > low, (high - low) * 1.001, 1.0)
    return np.where(first > 0, ahead, rest).astype(np.float32)


class BlendScorer:
    """Buy again first, then another model for the rest of the list."""

    family = "blend"

    def __init__(self, again: BuyAgainScorer, then: Scorer) -> None:
        self.again, self.then = again, then

    def scores(self, users: np.ndarray, rows: csr_matrix) -> np.ndarray:
        return first_then(self.again.again[users].toarray(), self.then.scores(users, rows))

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"first.{k}": v for k, v in self.again.arrays().items()},
                **{f"then.{k}": v for k, v in self.then.arrays().items()},
                "then.family": np.asarray(self.then.family)}
