"""Top-k ranking metrics (pure): precision, recall, MAP, NDCG, hit rate, catalogue coverage
and novelty."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

K = 10
METRICS = (f"precision@{K}", f"recall@{K}", f"map@{K}", f"ndcg@{K}", f"hit_rate@{K}",
           "coverage", "novelty")


def precision_at_k(recommended: Sequence[int], relevant: set[int], k: int = K) -> float:
    return sum(1 for item in recommended[:k] if item in relevant) / k


def recall_at_k(recommended: Sequence[int], relevant: set[int], k: int = K) -> float:
    if not relevant:
        return 0.0
    return sum(1 for item in recommended[:k] if item in relevant) / len(relevant)


def average_precision_at_k(recommended: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Mean of precision at each hit's rank, over min(|relevant|, k)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), k)


def ndcg_at_k(recommended: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Binary-relevance NDCG: DCG over the DCG of a perfect list."""
    dcg = sum(1 / math.log2(rank + 1)
              for rank, item in enumerate(recommended[:k], start=1) if item in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def hit_at_k(recommended: Sequence[int], relevant: set[int], k: int = K) -> float:
    """1 when any of the top k is relevant (its mean over users is the hit rate)."""
    return 1.0 if any(item in relevant for item in recommended[:k]) else 0.0


PerUser = Callable[[Sequence[int], set[int], int], float]
PER_USER: dict[str, PerUser] = {"precision": precision_at_k, "recall": recall_at_k,
                                "map": average_precision_at_k, "ndcg": ndcg_at_k,
                                "hit_rate": hit_at_k}


def per_user(metric: str, recommendations: Mapping[int, Sequence[int]],
             relevant: Mapping[int, set[int]], users: Sequence[int]) -> np.ndarray:
    """``metric`` (e.g. ``precision@10``) for each of ``users``, in that order."""
    name, _, k = metric.partition("@")
    f = PER_USER[name]
    return np.array([f(recommendations.get(u, []), relevant[u], int(k)) for u in users],
                    dtype=np.float64)


def self_information(popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Per item: -log2 of the share of users who interacted with it (an item no one touched
    counts as touched by one): how surprising it is to be shown it."""
    return -np.log2(np.maximum(popularity, 1.0) / max(n_users, 1))


def summarize(recommendations: Mapping[int, Sequence[int]], relevant: Mapping[int, set[int]],
              n_items: int, k: int = K, novelty: np.ndarray | None = None) -> dict[str, float]:
    """Mean of each metric over the users in ``relevant``; coverage is the share of the
    catalogue that appears in anyone's top k; novelty is the mean self-information of the
    recommended items (``novelty``: per item code, see :func:`self_information`)."""
    users = list(relevant)
    if not users:
        return {name.replace(f"@{K}", f"@{k}"): 0.0 for name in METRICS}
    mean = lambda f: sum(f(recommendations.get(u, []), relevant[u], k) for u in users) / len(users)  # noqa: E731
    shown = {item for u in users for item in recommendations.get(u, [])[:k]}
    out = {
        f"precision@{k}": mean(precision_at_k),
        f"recall@{k}": mean(recall_at_k),
        f"map@{k}": mean(average_precision_at_k),
        f"ndcg@{k}": mean(ndcg_at_k),
        f"hit_rate@{k}": mean(hit_at_k),
        "coverage": len(shown) / n_items if n_items else 0.0,
        "novelty": 0.0,
    }
    if novelty is not None:
        lists = [recommendations.get(u, [])[:k] for u in users]
        per = [float(novelty[list(items)].mean()) for items in lists if len(items)]
        out["novelty"] = sum(per) / len(per) if per else 0.0
    return out
