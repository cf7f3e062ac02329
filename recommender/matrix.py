"""From interactions to the user x item confidence matrix (pure).

Each interaction weighs by its kind (view, add, purchase; a refund subtracts)
and halves every ``half_life_days`` of age before ``as_of``. The weights of a
user-item pair are summed; a pair that nets to zero or less (bought and
refunded, nothing else) is left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import csr_matrix

from models.settings import Settings
from recommender.interactions import ADD, DAY_MS, PURCHASE, REFUND, VIEW, Interactions


@dataclass(frozen=True)
class Weights:
    view: float = 1.0
    add: float = 3.0
    purchase: float = 5.0
    refund: float = 5.0
    half_life_days: float = 30.0

    @classmethod
    def from_settings(cls, s: Settings) -> Weights:
        return cls(s.reco_weight_view, s.reco_weight_add, s.reco_weight_purchase,
                   s.reco_weight_refund, s.reco_half_life_days)

    def by_kind(self) -> np.ndarray:
        table = np.zeros(4, dtype=np.float64)
        table[VIEW], table[ADD] = self.view, self.add
        table[PURCHASE], table[REFUND] = self.purchase, -self.refund
        return table

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def decay(times_ms: np.ndarray, as_of_ms: int, half_life_ms: float) -> np.ndarray:
    """0.5 ** (age / half-life); events after ``as_of`` count fully."""
    age = np.maximum(as_of_ms - times_ms, 0).astype(np.float64)
    return np.power(0.5, age / half_life_ms)


def interaction_weights(inter: Interactions, weights: Weights, as_of_ms: int) -> np.ndarray:
    return weights.by_kind()[inter.kinds] * decay(inter.times, as_of_ms,
                                                  weights.half_life_days * DAY_MS)


def user_item_matrix(inter: Interactions, weights: Weights, as_of_ms: int) -> csr_matrix:
    """users x items, float32; only positive net weights are kept."""
    values = interaction_weights(inter, weights, as_of_ms)
    matrix = csr_matrix((values, (inter.users, inter.items)),
                        shape=(inter.n_users, inter.n_items), dtype=np.float64)
    matrix.sum_duplicates()
    matrix.data[matrix.data < 1e-9] = 0.0
    matrix.eliminate_zeros()
    return matrix.astype(np.float32)


def purchased_matrix(inter: Interactions) -> csr_matrix:
    """users x items, 1 where the user bought the item and did not refund every unit."""
    sign = np.where(inter.kinds == PURCHASE, 1.0, np.where(inter.kinds == REFUND, -1.0, 0.0))
    matrix = csr_matrix((sign, (inter.users, inter.items)),
                        shape=(inter.n_users, inter.n_items), dtype=np.float64)
    matrix.sum_duplicates()
    matrix.data = (matrix.data > 0).astype(np.float32)
    matrix.eliminate_zeros()
    return matrix.astype(np.float32)


def row_items(matrix: csr_matrix, row: int) -> np.ndarray:
    """The column codes stored in one row of a CSR matrix (e.g. what a user bought)."""
    return matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]
