"""Content for the cold start (pure): products scored by how well their category, brand
and price band match what the shopper engaged with, times a popularity prior.

A user's profile is the share of their confidence weight per category, per brand and per
price band (prices in bands that double: 10-20, 20-40, ...). A product's score is
``0.5 * category share + 0.3 * brand share + 0.2 * band share``, times
``1 + log(1 + distinct users)``, so among equally matching products the popular come
first, and a product no one touched yet (a cold item) still gets a place when its
attributes match. Products with no match are ordered by the prior alone.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from recommender.scorers import TIE_BREAK, normalized

WEIGHTS = {"category": 0.5, "brand": 0.3, "band": 0.2}


def codes(values: np.ndarray) -> np.ndarray:
    """A code per value ('' is unknown: -1)."""
    text = np.asarray(values, dtype=object).astype(str)
    uniques, inverse = np.unique(text, return_inverse=True)
    out = inverse.astype(np.int32)
    if uniques.size and uniques[0] == "":
        out -= 1  # '' sorts first: it becomes -1, the rest shift down
    return out


def price_bands(prices: np.ndarray) -> np.ndarray:
    """A band per price, each twice as wide as the one below (unknown or 0: -1)."""
    prices = np.asarray(prices, dtype=np.float64)
    bands = np.full(prices.shape, -1, dtype=np.int32)
    known = prices > 0
    bands[known] = np.floor(np.log2(prices[known])).astype(np.int32) + 64
    return bands


class ContentScorer:
    family = "content"

    def __init__(self, category: np.ndarray, brand: np.ndarray, band: np.ndarray,
                 popularity: np.ndarray) -> None:
        self.codes = {"category": np.asarray(category, dtype=np.int32),
                      "brand": np.asarray(brand, dtype=np.int32),
                      "band": np.asarray(band, dtype=np.int32)}
        self.popularity = np.asarray(popularity, dtype=np.float32)
        self.prior = (1.0 + np.log1p(self.popularity)).astype(np.float32)
        self._onehot = {name: _onehot(c) for name, c in self.codes.items()}

    @classmethod
    def build(cls, categories: np.ndarray, brands: np.ndarray, prices: np.ndarray,
              popularity: np.ndarray) -> ContentScorer:
        return cls(codes(categories), codes(brands), price_bands(prices), popularity)

    def scores(self, users: np.ndarray, rows: csr_matrix) -> np.ndarray:
        rows = csr_matrix(rows, dtype=np.float32)
        rows.data = np.maximum(rows.data, np.float32(0))
        total = np.zeros((rows.shape[0], self.prior.shape[0]), dtype=np.float32)
        for name, weight in WEIGHTS.items():
            onehot = self._onehot[name]
            profile = np.asarray((rows @ onehot).toarray(), dtype=np.float32)
            sums = profile.sum(axis=1, keepdims=True)
            profile = (profile / np.where(sums > 0, sums, 1.0)).astype(np.float32)
            padded = np.concatenate([profile, np.zeros((profile.shape[0], 1), np.float32)], 1)
            total += weight * padded[:, self.codes[name]]  # -1 (unknown) reads the zero column
        return total * self.prior[None, :] + TIE_BREAK * normalized(self.prior)[None, :]

    def similar_to(self, category: str, brand: str, price: float, n: int,
                   names: dict[str, np.ndarray]) -> np.ndarray:
        """Item codes best matching the given attributes (``names``: the item attribute
        values the codes were made from), for a product the model has not seen."""
        score = np.zeros(self.prior.shape[0], dtype=np.float32)
        wanted = {"category": category, "brand": brand}
        for name in ("category", "brand"):
            if wanted[name]:
                score += WEIGHTS[name] * (names[name].astype(str) == wanted[name])
        band = price_bands(np.array([price]))[0]
        if band >= 0:
            score += WEIGHTS["band"] * (self.codes["band"] == band)
        ranked = np.lexsort((np.arange(score.shape[0]), -(score * self.prior)))
        return ranked[score[ranked] > 0][:n]

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"code_{k}": v for k, v in self.codes.items()}, "popularity": self.popularity}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> ContentScorer:
        return cls(a["code_category"], a["code_brand"], a["code_band"], a["popularity"])


def _onehot(item_codes: np.ndarray) -> csr_matrix:
    """items x values, 1 where the item has the value."""
    known = np.flatnonzero(item_codes >= 0)
    width = int(item_codes.max()) + 1 if known.size else 0
    return csr_matrix((np.ones(known.size, dtype=np.float32), (known, item_codes[known])),
                      shape=(item_codes.shape[0], width))
