"""Top-k ranking metrics (pure): precision, recall, MAP, NDCG and catalogue coverage."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

K = 10
METRICS = (f"precision@{K}", f"recall@{K}", f"map@{K}", f"ndcg@{K}", "coverage")


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


def summarize(recommendations: Mapping[int, Sequence[int]], relevant: Mapping[int, set[int]],
              n_items: int, k: int = K) -> dict[str, float]:
    """Mean of each metric over the users in ``relevant``; coverage is the share of the
    catalogue that appears in anyone's top k."""
    users = list(relevant)
    if not users:
        return {name: 0.0 for name in METRICS}
    mean = lambda f: sum(f(recommendations.get(u, []), relevant[u], k) for u in users) / len(users)  # noqa: E731
    shown = {item for u in users for item in recommendations.get(u, [])[:k]}
    return {
        f"precision@{k}": mean(precision_at_k),
        f"recall@{k}": mean(recall_at_k),
        f"map@{k}": mean(average_precision_at_k),
        f"ndcg@{k}": mean(ndcg_at_k),
        "coverage": len(shown) / n_items if n_items else 0.0,
    }
