"""The candidate models a shop's selection tries, and fitting any of them (pure).

A :class:`Candidate` is a family and its parameters. :func:`grid` lists the candidates in
the order the search tries them: cheap ones first, so a time budget cuts the expensive
tail. :func:`fit` turns a candidate and a :class:`TrainingData` into a scorer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from recommender.als import AlsParams, AlsScorer, train_als
from recommender.baselines import popularity, recent_popularity
from recommender.content import ContentScorer
from recommender.interactions import DAY_MS, PURCHASE, REFUND, Interactions
from recommender.knn import KnnScorer, item_similarity
from recommender.matrix import Weights, decay, purchased_matrix, user_item_matrix
from recommender.scorers import BlendScorer, BuyAgainScorer, PopularityScorer, Scorer

Progress = Callable[[str], None]
FAMILIES = ("popularity", "recent_popularity", "buy_again", "content", "item_knn", "als", "blend")
REPEAT_ONLY = ("buy_again", "blend")  # they rank what was bought before: only when re-buys count
RECENT_SHARE = 0.1  # recency-weighted popularity: half-life = 10% of the window, at most a day
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Candidate:
    family: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.family == "blend":
            return f"blend({self.params['first'].name} + {self.params['then'].name})"
        inside = " ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{self.family}({inside})" if inside else self.family

    def as_dict(self) -> dict[str, Any]:
        if self.family == "blend":
            return {"family": "blend", "params": {k: v.as_dict() for k, v in self.params.items()}}
        return {"family": self.family, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Candidate:
        if d["family"] == "blend":
            return cls("blend", {k: cls.from_dict(v) for k, v in d["params"].items()})
        return cls(str(d["family"]), dict(d["params"]))


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TrainingData:
    """What every candidate fits from, computed once per training side."""
    inter: Interactions
    weights: Weights
    as_of_ms: int
    matrix: csr_matrix      # users x items confidence
    purchased: csr_matrix   # users x items, 1 = bought
    popularity: np.ndarray  # distinct users per item

    @classmethod
    def of(cls, inter: Interactions, weights: Weights, as_of_ms: int) -> TrainingData:
        return cls(inter, weights, as_of_ms, user_item_matrix(inter, weights, as_of_ms).tocsr(),
                   purchased_matrix(inter).tocsr(), popularity(inter))

    @property
    def span_ms(self) -> int:
        return max(1, self.inter.end_ms - self.inter.start_ms)


def grid(als: AlsParams, allowed: set[str] | None, repeat: bool, span_ms: int) -> list[Candidate]:
    """The candidates to try, cheapest first. ``als`` is the configured ALS point; the grid
    varies it. ``allowed``: families to try (None: all); popularity is always tried."""
    span_days = span_ms / DAY_MS
    out = [Candidate("popularity"), Candidate("recent_popularity")]
    if repeat:
        out += [Candidate("buy_again", {"half_life_days": round(max(span_days * share, 1 / 24), 4)})
                for share in (0.1, 0.5)]
    out.append(Candidate("content"))
    out += [Candidate("item_knn", {"weighting": w, "neighbours": k})
            for w, k in (("cosine", 50), ("bm25", 50), ("tfidf", 50), ("bm25", 200),
                         ("cosine", 200))]
    base = als
    half = max(8, base.factors // 2)
    points = [  # cheap first; each differs from the configured point in one or two knobs
        (half, base.regularization * 2, base.alpha, max(5, base.iterations * 2 // 3)),
        (base.factors, base.regularization, base.alpha, base.iterations),
        (base.factors, base.regularization, base.alpha * 4, base.iterations),
        (base.factors, max(base.regularization * 10, 0.1), 1.0, base.iterations),
        (base.factors * 2, base.regularization, base.alpha, base.iterations),
    ]
    seen = set()
    for factors, reg, alpha, iterations in points:
        key = (factors, round(reg, 6), alpha, iterations)
        if key not in seen:
            seen.add(key)
            out.append(Candidate("als", {"factors": factors, "regularization": round(reg, 6),
                                         "alpha": alpha, "iterations": iterations}))
    keep = allowed if allowed is not None else set(FAMILIES)
    return [c for c in out if c.family == "popularity" or c.family in keep]


def parse_families(text: str) -> set[str] | None:
    """``all`` or a comma list of families (see :data:`FAMILIES`)."""
    if text.strip() in ("", "all"):
        return None
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = names - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown recommender families {sorted(unknown)} "
                         f"(SHOPSTREAM_RECO_CANDIDATES: all, or some of {', '.join(FAMILIES)})")
    return names


def buy_again_matrix(inter: Interactions, as_of_ms: int, half_life_days: float) -> csr_matrix:
    """users x items: each purchase counts 1, halving every ``half_life_days`` of age; a
    refund takes its line back."""
    bought = (inter.kinds == PURCHASE) | (inter.kinds == REFUND)
    sign = np.where(inter.kinds[bought] == PURCHASE, 1.0, -1.0)
    values = sign * decay(inter.times[bought], as_of_ms, half_life_days * DAY_MS)
    matrix = csr_matrix((values, (inter.users[bought], inter.items[bought])),
                        shape=(inter.n_users, inter.n_items), dtype=np.float64)
    matrix.sum_duplicates()
    matrix.data[matrix.data < 1e-9] = 0.0
    matrix.eliminate_zeros()
    return matrix.astype(np.float32)


def fit(candidate: Candidate, data: TrainingData, progress: Progress | None = None,
        seed: int = 7) -> Scorer:
    """The fitted scorer of ``candidate`` on ``data``."""
    family, p = candidate.family, candidate.params
    if family == "popularity":
        return PopularityScorer(data.popularity)
    if family == "recent_popularity":
        half_life = min(DAY_MS, data.span_ms * RECENT_SHARE)
        return PopularityScorer(recent_popularity(data.inter, data.weights, data.as_of_ms,
                                                  half_life), "recent_popularity")
    if family == "buy_again":
        return BuyAgainScorer(buy_again_matrix(data.inter, data.as_of_ms,
                                               float(p["half_life_days"])), data.popularity)
    if family == "content":
        attributes = data.inter.attributes()
        return ContentScorer.build(data.inter.item_categories, attributes.brands,
                                   attributes.prices, data.popularity)
    if family == "item_knn":
        return KnnScorer(item_similarity(data.matrix, str(p["weighting"]), int(p["neighbours"])),
                         data.popularity)
    if family == "als":
        params = AlsParams(int(p["factors"]), float(p["regularization"]), float(p["alpha"]),
                           int(p["iterations"]), seed)
        return AlsScorer.of(train_als(data.matrix, params, progress))
    if family == "blend":
        first = fit(p["first"], data, progress, seed)
        if not isinstance(first, BuyAgainScorer):
            raise ValueError("a blend starts with buy_again")
        return BlendScorer(first, fit(p["then"], data, progress, seed))
    raise ValueError(f"unknown recommender family {family!r}")
