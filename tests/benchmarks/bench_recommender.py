"""Recommender: training time for ~1M interactions and recommendation latency, next to
implicit called directly on the same matrix, in the same run.

    python tests/benchmarks/bench_recommender.py [--interactions 1000000] [--requests 2000]

Data: planted groups (tests/planted.py) sized to the interaction count.

1. training: shopstream's fit (confidence matrix from weighted, decayed interactions,
   ALS, item-item neighbours) against ``AlternatingLeastSquares.fit`` alone on the
   very same matrix with the same parameters: the floor;
2. latency, single: ``TrainedModel.recommend`` (id lookup, purchased items left out,
   ids and scores out) for random known users, against ``model.recommend`` on the
   same user codes;
3. latency, batched: ``recommend_many`` for batches of 1,000 users, per batch and per
   user, against implicit's batched ``recommend``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from threadpoolctl import threadpool_limits  # noqa: E402

from recommender.als import AlsParams, new_model  # noqa: E402
from recommender.job import fit  # noqa: E402
from recommender.matrix import Weights, purchased_matrix, user_item_matrix  # noqa: E402
from tests.benchmarks.stats import percentile  # noqa: E402
from tests.planted import planted  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()

    per_user = 40
    users = max(1, args.interactions // per_user)
    groups = 50
    inter, _ = planted(groups=groups, users_per_group=users // groups, items_per_group=200,
                       per_user=per_user, in_group=0.8, days=90)
    params = AlsParams()
    weights = Weights()
    print(f"data: {len(inter):,} interactions, {inter.n_users:,} users, {inter.n_items:,} products; "
          f"ALS factors={params.factors} iterations={params.iterations}")

    # 1. training ------------------------------------------------------------------------
    started = time.perf_counter()
    model = fit(inter, weights, params, progress=lambda _: None)
    ours = time.perf_counter() - started

    matrix = user_item_matrix(inter, weights, inter.end_ms)
    with threadpool_limits(1, "blas"):
        direct = new_model(params)
        started = time.perf_counter()
        direct.fit(matrix, show_progress=False)
        floor = time.perf_counter() - started
    print(f"training     shopstream fit {ours:7.2f} s   implicit ALS fit alone {floor:7.2f} s   "
          f"ratio {ours / floor:.2f}")

    # 2. single-user latency -------------------------------------------------------------
    rng = np.random.default_rng(3)
    codes = rng.integers(0, inter.n_users, args.requests)
    purchased = purchased_matrix(inter)
    ours_ms, direct_ms = [], []
    with threadpool_limits(1, "blas"):
        for code in codes.tolist():
            t = time.perf_counter()
            model.recommend(code, 10)
            ours_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            direct.recommend(code, purchased[code], N=10, filter_already_liked_items=True)
            direct_ms.append((time.perf_counter() - t) * 1000)
    print(f"single       shopstream p50 {percentile(ours_ms, 50):.3f} ms  p99 "
          f"{percentile(ours_ms, 99):.3f} ms   implicit p50 {percentile(direct_ms, 50):.3f} ms  "
          f"p99 {percentile(direct_ms, 99):.3f} ms   p50 ratio "
          f"{statistics.median(ours_ms) / statistics.median(direct_ms):.2f}")

    # 3. batched latency -----------------------------------------------------------------
    ours_b, direct_b = [], []
    with threadpool_limits(1, "blas"):
        for _ in range(20):
            batch = rng.integers(0, inter.n_users, args.batch)
            t = time.perf_counter()
            model.recommend_many(batch, 10)
            ours_b.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            direct.recommend(batch, purchased[batch], N=10, filter_already_liked_items=True)
            direct_b.append((time.perf_counter() - t) * 1000)
    per_user_ours = statistics.median(ours_b) / args.batch * 1000
    print(f"batched      {args.batch} users/batch: shopstream p50 {percentile(ours_b, 50):.1f} ms "
          f"p99 {percentile(ours_b, 99):.1f} ms ({per_user_ours:.1f} us/user)   implicit p50 "
          f"{percentile(direct_b, 50):.1f} ms p99 {percentile(direct_b, 99):.1f} ms   p50 ratio "
          f"{statistics.median(ours_b) / statistics.median(direct_b):.2f}")


if __name__ == "__main__":
    main()
