"""A trained recommender: implicit's ALS factors plus what serving needs beside them.

Saved as two ``.npz`` files in the model's registry folder (no pickles):
``als.npz`` is implicit's own format; ``index.npz`` holds the user and product
ids, product categories, what each user bought, and each product's nearest
neighbours for "similar products": implicit's item-item cosine model on the
same confidence matrix (who engaged with both), which on sparse shop data
finds neighbours more reliably than cosine on the ALS factors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from recommender.matrix import row_items

SIMILAR_KEPT = 50


@dataclass
class TrainedModel:
    als: AlternatingLeastSquares
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_categories: np.ndarray
    purchased: csr_matrix
    similar_ids: np.ndarray      # n_items x k item codes, best first (self excluded)
    similar_scores: np.ndarray   # n_items x k cosine similarities
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        self._item_index = {p: i for i, p in enumerate(self.item_ids.tolist())}

    @classmethod
    def build(cls, als: AlternatingLeastSquares, matrix: csr_matrix, user_ids: np.ndarray,
              item_ids: np.ndarray, item_categories: np.ndarray,
              purchased: csr_matrix) -> TrainedModel:
        """``matrix`` is the users x items confidence matrix the ALS model was fitted on."""
        n_items = item_ids.shape[0]
        k = min(SIMILAR_KEPT, n_items - 1)
        if k > 0:
            neighbours = CosineRecommender(K=k + 1)
            with warnings.catch_warnings():  # implicit converts its own normalised copy
                warnings.simplefilter("ignore", ParameterWarning)
                neighbours.fit(matrix.tocsr(), show_progress=False)
            ids, scores = neighbours.similar_items(np.arange(n_items), N=k + 1)
            similar_ids, similar_scores = _drop_self(ids, scores, k)
        else:
            similar_ids = np.zeros((n_items, 0), dtype=np.int32)
            similar_scores = np.zeros((n_items, 0), dtype=np.float32)
        return cls(als, user_ids, item_ids, item_categories, purchased.tocsr(),
                   similar_ids, similar_scores)

    # -- lookups ------------------------------------------------------------------------
    def user_code(self, user: str) -> int | None:
        return self._user_index.get(user)

    def item_code(self, product: str) -> int | None:
        return self._item_index.get(product)

    def bought(self, user_code: int) -> np.ndarray:
        return row_items(self.purchased, user_code)

    # -- recommendations ----------------------------------------------------------------
    def recommend(self, user_code: int, n: int,
                  also_exclude: list[int] | None = None) -> list[tuple[str, float]]:
        """Top ``n`` products for a known user, leaving out what they bought."""
        exclude = np.asarray(sorted(set(also_exclude or [])), dtype=np.int32)
        left = self.item_ids.shape[0] - len(set(self.bought(user_code)) | set(exclude.tolist()))
        n = min(n, left)
        if n <= 0:
            return []
        ids, scores = self.als.recommend(
            user_code, self.purchased[user_code], N=n, filter_already_liked_items=True,
            filter_items=exclude if exclude.size else None)
        return [(str(self.item_ids[i]), float(s)) for i, s in zip(ids, scores, strict=True)
                if np.isfinite(s)]

    def recommend_many(self, user_codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Batched: item codes and scores, one row per user (-inf score = nothing left)."""
        return self.als.recommend(user_codes, self.purchased[user_codes], N=n,
                                  filter_already_liked_items=True)

    def similar(self, item_code: int, n: int) -> list[tuple[str, float]]:
        ids = self.similar_ids[item_code][:n]
        scores = self.similar_scores[item_code][:n]
        keep = scores > 0  # fewer neighbours than asked: the rest is padding
        ids, scores = ids[keep], scores[keep]
        return [(str(self.item_ids[i]), float(s)) for i, s in zip(ids, scores, strict=True)]

    # -- files --------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.als.save(str(folder / "als.npz"))
        p = self.purchased
        np.savez(folder / "index.npz",
                 user_ids=self.user_ids.astype(str), item_ids=self.item_ids.astype(str),
                 item_categories=self.item_categories.astype(str),
                 purchased_indptr=p.indptr, purchased_indices=p.indices,
                 purchased_shape=np.asarray(p.shape),
                 similar_ids=self.similar_ids, similar_scores=self.similar_scores)

    @classmethod
    def load(cls, folder: Path) -> TrainedModel:
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares.load(str(folder / "als.npz"))
        with np.load(folder / "index.npz", allow_pickle=False) as data:
            n_users, n_items = (int(x) for x in data["purchased_shape"])
            indices = data["purchased_indices"]
            purchased = csr_matrix((np.ones(indices.shape[0], dtype=np.float32), indices,
                                    data["purchased_indptr"]), shape=(n_users, n_items))
            return cls(als, data["user_ids"].astype(object), data["item_ids"].astype(object),
                       data["item_categories"].astype(object), purchased,
                       data["similar_ids"], data["similar_scores"])


def _drop_self(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    out_ids = np.empty((ids.shape[0], k), dtype=np.int32)
    out_scores = np.empty((ids.shape[0], k), dtype=np.float32)
    for item in range(ids.shape[0]):
        keep = ids[item] != item
        out_ids[item] = ids[item][keep][:k]
        out_scores[item] = scores[item][keep][:k]
    return out_ids, out_scores
