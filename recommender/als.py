"""Training implicit's alternating least squares on a confidence matrix."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from models.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class AlsParams:
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    seed: int = 7

    @classmethod
    def from_settings(cls, s: Settings) -> AlsParams:
        return cls(s.reco_factors, s.reco_regularization, s.reco_alpha, s.reco_iterations,
                   s.reco_seed)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def new_model(params: AlsParams, threads: int = 0) -> AlternatingLeastSquares:
    return AlternatingLeastSquares(
        factors=params.factors, regularization=params.regularization, alpha=params.alpha,
        iterations=params.iterations, random_state=params.seed, num_threads=threads,
    )


def train_als(matrix: csr_matrix, params: AlsParams, progress: Progress | None = None,
              threads: int = 0) -> AlternatingLeastSquares:
    """Fit ALS on ``matrix`` (users x items); reports each iteration through ``progress``.

    implicit parallelises over users itself; BLAS is held to one thread so the two
    do not oversubscribe the cores (implicit's own advice).
    """
    started = time.perf_counter()

    def on_iteration(iteration: int, elapsed: float, loss: float) -> None:
        if progress is not None:
            progress(f"  ALS iteration {iteration + 1}/{params.iterations} "
                     f"({time.perf_counter() - started:.1f}s)")

    if matrix.nnz == 0:
        raise ValueError("no interactions to train on")
    with threadpool_limits(1, "blas"):
        model = new_model(params, threads)
        model.fit(matrix.astype(np.float32).tocsr(), show_progress=False, callback=on_iteration)
    return model


class AlsScorer:
    """Scores from ALS factors: the user's factors times each item's (implicit's ``recommend``
    computes the same dot products)."""

    family = "als"

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)

    @classmethod
    def of(cls, model: AlternatingLeastSquares) -> AlsScorer:
        return cls(model.user_factors, model.item_factors)

    def scores(self, users: np.ndarray, rows: csr_matrix) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> AlsScorer:
        return cls(a["user_factors"], a["item_factors"])
