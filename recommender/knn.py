"""Item-item nearest neighbours: implicit's ``CosineRecommender``, ``BM25Recommender`` and
``TFIDFRecommender`` fit the item x item similarity; scoring is the user's confidence row
times that matrix (what implicit's own ``recommend`` computes), plus a hair of popularity
so that products no neighbour reaches are still ordered."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender
from implicit.utils import ParameterWarning
from scipy.sparse import csr_matrix

from recommender.scorers import TIE_BREAK, normalized

WEIGHTINGS = ("cosine", "bm25", "tfidf")


def item_similarity(matrix: csr_matrix, weighting: str, neighbours: int,
                    k1: float = 1.2, b: float = 0.75) -> csr_matrix:
    """items x items, ``neighbours`` kept per item (implicit's ``all_pairs_knn``)."""
    model: Any
    if weighting == "cosine":
        model = CosineRecommender(K=neighbours, num_threads=0)
    elif weighting == "bm25":
        model = BM25Recommender(K=neighbours, K1=k1, B=b, num_threads=0)
    elif weighting == "tfidf":
        model = TFIDFRecommender(K=neighbours, num_threads=0)
    else:
        raise ValueError(f"unknown item-kNN weighting {weighting!r} (one of {WEIGHTINGS})")
    with warnings.catch_warnings():  # implicit converts its own weighted copy
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(matrix.astype(np.float32).tocsr(), show_progress=False)
    return model.similarity.tocsr().astype(np.float32)


class KnnScorer:
    family = "item_knn"

    def __init__(self, similarity: csr_matrix, popularity: np.ndarray) -> None:
        self.similarity = similarity.tocsr().astype(np.float32)
        self.popularity = normalized(np.asarray(popularity, dtype=np.float64))

    def scores(self, users: np.ndarray, rows: csr_matrix) -> np.ndarray:
        out = np.asarray((rows @ self.similarity).toarray(), dtype=np.float32)
        return out + TIE_BREAK * self.popularity[None, :]

    def arrays(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"sim_data": s.data, "sim_indices": s.indices, "sim_indptr": s.indptr,
                "sim_shape": np.asarray(s.shape), "popularity": self.popularity}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> KnnScorer:
        similarity = csr_matrix((a["sim_data"], a["sim_indices"], a["sim_indptr"]),
                                shape=(int(a["sim_shape"][0]), int(a["sim_shape"][1])))
        return cls(similarity, a["popularity"])
