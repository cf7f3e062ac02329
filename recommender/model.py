"""A trained recommender: the selected scorer, its cold start, and what serving needs beside.

Saved as ``.npz`` files in the model's registry folder (no pickles): ``scorer.npz`` (the
selected family's arrays), ``content.npz`` (the content model for cold users and cold
items), ``index.npz`` (user and product ids, product categories, brands and prices, the
confidence matrix, what each user bought, interactions per user, and each product's nearest
neighbours for "similar products": implicit's item-item cosine model on the confidence
matrix, which finds neighbours on sparse shop data more reliably than cosine on factors).
A folder from before model selection (``als.npz``) still loads, as an ALS model.
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

from recommender.als import AlsScorer
from recommender.candidates import TrainingData
from recommender.content import ContentScorer
from recommender.families import load_scorer, scorer_arrays
from recommender.matrix import row_items
from recommender.scorers import PopularityScorer, Scorer, top_k
from recommender.slices import COLD_MAX

SIMILAR_KEPT = 50
COLD_CHOICES = ("winner", "content", "popularity")


@dataclass
class TrainedModel:
    scorer: Scorer
    content: ContentScorer | None
    cold_start: str                  # what users with few interactions get: COLD_CHOICES
    repeat: bool                     # bought products may be recommended
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_categories: np.ndarray
    item_brands: np.ndarray
    item_prices: np.ndarray
    matrix: csr_matrix               # users x items confidence (neighbour and content scoring)
    purchased: csr_matrix
    activity: np.ndarray             # interactions per user
    similar_ids: np.ndarray          # n_items x k item codes, best first (self excluded)
    similar_scores: np.ndarray       # n_items x k cosine similarities
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        self._item_index = {p: i for i, p in enumerate(self.item_ids.tolist())}

    @classmethod
    def build(cls, scorer: Scorer, data: TrainingData, content: ContentScorer | None,
              cold_start: str = "winner", repeat: bool = False) -> TrainedModel:
        """``data`` is what ``scorer`` was fitted on."""
        inter, matrix = data.inter, data.matrix
        attributes = inter.attributes()
        similar_ids, similar_scores = neighbours(matrix, inter.n_items)
        return cls(scorer, content, cold_start, repeat, inter.user_ids, inter.item_ids,
                   inter.item_categories, attributes.brands, attributes.prices, matrix.tocsr(),
                   data.purchased.tocsr(),
                   np.bincount(inter.users, minlength=inter.n_users).astype(np.int32),
                   similar_ids, similar_scores)

    # -- lookups ------------------------------------------------------------------------
    def user_code(self, user: str) -> int | None:
        return self._user_index.get(user)

    def item_code(self, product: str) -> int | None:
        return self._item_index.get(product)

    def bought(self, user_code: int) -> np.ndarray:
        return row_items(self.purchased, user_code)

    def is_cold(self, user_code: int) -> bool:
        return bool(self.activity[user_code] <= COLD_MAX)

    def scorer_for(self, user_code: int) -> tuple[str, Scorer]:
        """(source, scorer) for a known user: the selected model, or the cold start."""
        if self.is_cold(user_code) and self.cold_start == "content" and self.content is not None:
            return "content", self.content
        if self.is_cold(user_code) and self.cold_start == "popularity" and self.content is not None:
            return "popularity", PopularityScorer(self.content.popularity)
        return "model", self.scorer

    # -- recommendations ----------------------------------------------------------------
    def recommend(self, user_code: int, n: int,
                  also_exclude: list[int] | None = None) -> list[tuple[str, float]]:
        """Top ``n`` products for a known user, leaving out what they bought (unless repeat
        purchases apply) and ``also_exclude``."""
        _source, scorer = self.scorer_for(user_code)
        users = np.asarray([user_code])
        scores = np.asarray(scorer.scores(users, self.matrix[users])[0], dtype=np.float32)
        if not self.repeat:
            scores[self.bought(user_code)] = -np.inf
        if also_exclude:
            scores[np.asarray(also_exclude, dtype=np.int64)] = -np.inf
        n = min(n, scores.shape[0])
        if n <= 0:
            return []
        best = np.argpartition(-scores, n - 1)[:n]
        best = best[np.lexsort((best, -scores[best]))]
        return [(str(self.item_ids[i]), float(scores[i])) for i in best if np.isfinite(scores[i])]

    def recommend_items(self, item_codes: list[int], n: int,
                        also_exclude: list[int] | None = None) -> list[tuple[str, float]]:
        """Content-based top ``n`` for a shopper the model does not know, from the products
        they engaged with (empty when there is no content model)."""
        if self.content is None or not item_codes:
            return []
        row = csr_matrix((np.ones(len(item_codes), dtype=np.float32),
                          (np.zeros(len(item_codes), dtype=np.int32), np.asarray(item_codes))),
                         shape=(1, self.item_ids.shape[0]))
        scores = self.content.scores(np.asarray([-1]), row)
        exclude = sorted(set(also_exclude or []) | set(item_codes) if not self.repeat
                         else set(also_exclude or []))
        mask = csr_matrix((np.ones(len(exclude), dtype=np.float32),
                           (np.zeros(len(exclude), dtype=np.int32), np.asarray(exclude, dtype=np.int32))),
                          shape=(1, self.item_ids.shape[0]))
        return self._top(scores, n, mask)[0]

    def recommend_many(self, user_codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Batched: item codes and scores, one row per user (-inf score = nothing left)."""
        user_codes = np.asarray(user_codes, dtype=np.int64)
        ids = np.zeros((user_codes.shape[0], n), dtype=np.int64)
        scores = np.full((user_codes.shape[0], n), -np.inf, dtype=np.float32)
        groups: dict[int, tuple[Scorer, list[int]]] = {}
        for row, code in enumerate(user_codes.tolist()):
            _source, scorer = self.scorer_for(code)
            groups.setdefault(id(scorer), (scorer, []))[1].append(row)
        for scorer, rows in groups.values():
            users = user_codes[rows]
            raw = scorer.scores(users, self.matrix[users])
            for row, pairs in zip(rows, self._top(raw, n, self._exclusions(users, []),
                                                   codes=True), strict=True):
                for col, (item, score) in enumerate(pairs):
                    ids[row, col], scores[row, col] = item, score
        return ids, scores

    def _exclusions(self, users: np.ndarray, extra: list[int]) -> csr_matrix:
        shape = (len(users), int(self.item_ids.shape[0]))
        rows = self.purchased[users] if not self.repeat else empty_rows(*shape)
        if extra:
            more = csr_matrix((np.ones(len(extra) * len(users), dtype=np.float32),
                               (np.repeat(np.arange(len(users)), len(extra)),
                                np.tile(np.asarray(extra), len(users)))), shape=rows.shape)
            rows = rows + more
        return rows.tocsr()

    def _top(self, scores: np.ndarray, n: int, exclude: csr_matrix,
             codes: bool = False) -> list[list]:
        lists = top_k(scores, n, exclude)
        return [[(i if codes else str(self.item_ids[i]), float(scores[r, i])) for i in items]
                for r, items in enumerate(lists)]

    def similar(self, item_code: int, n: int) -> list[tuple[str, float]]:
        ids = self.similar_ids[item_code][:n]
        scores = self.similar_scores[item_code][:n]
        keep = scores > 0  # fewer neighbours than asked: the rest is padding
        ids, scores = ids[keep], scores[keep]
        return [(str(self.item_ids[i]), float(s)) for i, s in zip(ids, scores, strict=True)]

    def similar_by_attributes(self, category: str, brand: str, price: float,
                              n: int) -> list[tuple[str, float]]:
        """Products sharing a category, brand or price band, for a product the model has not
        seen (a cold item); popular ones first among equals."""
        if self.content is None:
            return []
        names = {"category": self.item_categories, "brand": self.item_brands}
        codes = self.content.similar_to(category, brand, price, n, names)
        prior = self.content.prior
        return [(str(self.item_ids[i]), float(prior[i])) for i in codes.tolist()]

    # -- files --------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _save(folder / "scorer.npz", {**scorer_arrays(self.scorer),
                                      "cold_start": np.asarray(self.cold_start),
                                      "repeat": np.asarray(self.repeat)})
        if self.content is not None:
            _save(folder / "content.npz", scorer_arrays(self.content))
        p, m = self.purchased, self.matrix
        np.savez(folder / "index.npz",
                 user_ids=self.user_ids.astype(str), item_ids=self.item_ids.astype(str),
                 item_categories=self.item_categories.astype(str),
                 item_brands=self.item_brands.astype(str), item_prices=self.item_prices,
                 purchased_indptr=p.indptr, purchased_indices=p.indices,
                 purchased_shape=np.asarray(p.shape),
                 matrix_data=m.data, matrix_indices=m.indices, matrix_indptr=m.indptr,
                 activity=self.activity,
                 similar_ids=self.similar_ids, similar_scores=self.similar_scores)

    @classmethod
    def load(cls, folder: Path) -> TrainedModel:
        with np.load(folder / "index.npz", allow_pickle=False) as data:
            index = {k: data[k] for k in data.files}
        n_users, n_items = (int(x) for x in index["purchased_shape"])
        purchased = csr_matrix((np.ones(index["purchased_indices"].shape[0], dtype=np.float32),
                                index["purchased_indices"], index["purchased_indptr"]),
                               shape=(n_users, n_items))
        content: ContentScorer | None = None
        if (folder / "scorer.npz").is_file():
            with np.load(folder / "scorer.npz", allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            scorer = load_scorer(arrays)
            cold_start, repeat = str(arrays["cold_start"]), bool(arrays["repeat"])
            if (folder / "content.npz").is_file():
                with np.load(folder / "content.npz", allow_pickle=False) as data:
                    loaded = load_scorer({k: data[k] for k in data.files})
                    content = loaded if isinstance(loaded, ContentScorer) else None
            matrix = csr_matrix((index["matrix_data"], index["matrix_indices"],
                                 index["matrix_indptr"]), shape=(n_users, n_items))
            brands, prices = index["item_brands"].astype(object), index["item_prices"]
            activity = index["activity"]
        else:  # saved before model selection: implicit's ALS, no matrix, no content
            with threadpool_limits(1, "blas"):
                scorer = AlsScorer.of(AlternatingLeastSquares.load(str(folder / "als.npz")))
            cold_start, repeat = "winner", False
            matrix = empty_rows(n_users, n_items)
            brands, prices = np.full(n_items, "", dtype=object), np.zeros(n_items)
            activity = np.full(n_users, np.iinfo(np.int32).max, dtype=np.int32)
        return cls(scorer, content, cold_start, repeat, index["user_ids"].astype(object),
                   index["item_ids"].astype(object), index["item_categories"].astype(object),
                   brands, prices, matrix, purchased, activity,
                   index["similar_ids"], index["similar_scores"])


def empty_rows(n_rows: int, n_cols: int) -> csr_matrix:
    nothing = np.zeros(0, dtype=np.int32)
    return csr_matrix((np.zeros(0, dtype=np.float32), (nothing, nothing)), shape=(n_rows, n_cols))


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(path, **arrays)  # type: ignore[arg-type]


def neighbours(matrix: csr_matrix, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Each item's nearest neighbours (implicit's item-item cosine), itself left out."""
    k = min(SIMILAR_KEPT, n_items - 1)
    if k <= 0:
        return np.zeros((n_items, 0), dtype=np.int32), np.zeros((n_items, 0), dtype=np.float32)
    model = CosineRecommender(K=k + 1)
    with warnings.catch_warnings():  # implicit converts its own normalised copy
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(matrix.tocsr(), show_progress=False)
    ids, scores = model.similar_items(np.arange(n_items), N=k + 1)
    return _drop_self(ids, scores, k)


def _drop_self(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    out_ids = np.empty((ids.shape[0], k), dtype=np.int32)
    out_scores = np.empty((ids.shape[0], k), dtype=np.float32)
    for item in range(ids.shape[0]):
        keep = ids[item] != item
        out_ids[item] = ids[item][keep][:k]
        out_scores[item] = scores[item][keep][:k]
    return out_ids, out_scores
