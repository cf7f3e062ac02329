"""Recommender: model selection and training time for ~1M interactions, and recommendation
latency, next to implicit called directly on the same matrix, in the same run.

    python tests/benchmarks/bench_recommender.py [--interactions 1000000] [--requests 2000]

Data: planted groups (tests/planted.py) sized to the interaction count: 40 interactions per
shopper over 90 days, 250 groups of 40 products (10,000 products), 80% of a shopper's
interactions within their group.

1. selection: what ``recommender train`` does before registering, timed: the repeat
   decision, the search over every candidate on the validation split (within the
   configured budget, ``SHOPSTREAM_RECO_SEARCH_SECONDS``), the winner refitted and measured
   against the baselines on the held-out side (``assess``), then the winner, the content
   model and the item neighbours fitted on all the data (``fit_model``);
2. training: shopstream's ALS fit at the configured point (confidence matrix, ALS, item
   neighbours, content model) against ``AlternatingLeastSquares.fit`` alone on the very
   same matrix with the same parameters: the floor;
3. latency, single: ``TrainedModel.recommend`` (id lookup, purchases left out, ids and
   scores out) for random known users, against implicit's ``recommend`` on the same ALS
   factors; and the same for the model the selection chose (what serving runs);
4. latency, batched: ``recommend_many`` for batches of 1,000 users, per batch and per
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

from models.settings import load_settings  # noqa: E402
from recommender.als import AlsParams, new_model  # noqa: E402
from recommender.candidates import Candidate, TrainingData, fit  # noqa: E402
from recommender.job import SplitChoice, assess, fit_model  # noqa: E402
from recommender.matrix import Weights  # noqa: E402
from recommender.model import TrainedModel  # noqa: E402
from tests.benchmarks.stats import percentile  # noqa: E402
from tests.planted import planted  # noqa: E402


def latency(model: TrainedModel, codes: list[int]) -> list[float]:
    out = []
    with threadpool_limits(1, "blas"):
        for code in codes:
            t = time.perf_counter()
            model.recommend(code, 10)
            out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()

    per_user = 40
    users = max(1, args.interactions // per_user)
    groups = 250
    inter, _ = planted(groups=groups, users_per_group=max(1, users // groups),
                       items_per_group=40, per_user=per_user, in_group=0.8, days=90)
    settings = load_settings()
    params, weights = AlsParams.from_settings(settings), Weights.from_settings(settings)
    print(f"data: {len(inter):,} interactions, {inter.n_users:,} users, {inter.n_items:,} products; "
          f"search budget {settings.reco_search_seconds:.0f}s; ALS factors={params.factors} "
          f"iterations={params.iterations}")

    # 1. selection --------------------------------------------------------------------------
    started = time.perf_counter()
    evaluation, selection, repeat = assess(inter, settings, "default", SplitChoice("auto"),
                                           lambda _: None)
    assessed = time.perf_counter() - started
    chosen = fit_model(inter, weights, selection, repeat.applied, lambda _: None)
    total = time.perf_counter() - started
    tried = [c for c in evaluation["selection"]["candidates"] if c["status"] != "skipped"
             and not c["status"].startswith("skipped")]
    print(f"selection    {total:6.1f} s in all: search {selection.seconds:.1f} s "
          f"({len(tried)} of {len(evaluation['selection']['candidates'])} candidates on "
          f"{evaluation['selection']['validation_users']:,} validation users), test evaluation "
          f"{assessed - selection.seconds:.1f} s, final fit {total - assessed:.1f} s")
    print(f"             winner {selection.winner.name}: precision@10 "
          f"{evaluation['model']['precision@10']:.4f} against popularity's "
          f"{evaluation['baselines']['popularity']['precision@10']:.4f} "
          f"({evaluation['n_test_users']:,} test users)")
    for c in evaluation["selection"]["candidates"]:
        print(f"               {c['name']:<58} {c['status']:<10.10} {c['seconds']:6.2f} s  "
              f"precision@10 {c.get('precision@10', float('nan')):.4f}")

    # 2. training -----------------------------------------------------------------------------
    started = time.perf_counter()
    data = TrainingData.of(inter, weights, inter.end_ms)
    configured = Candidate("als", {"factors": params.factors, "regularization": params.regularization,
                                   "alpha": params.alpha, "iterations": params.iterations})
    als = TrainedModel.build(fit(configured, data), data, fit(Candidate("content"), data))
    ours = time.perf_counter() - started
    with threadpool_limits(1, "blas"):
        direct = new_model(params)
        started = time.perf_counter()
        direct.fit(data.matrix, show_progress=False)
        floor = time.perf_counter() - started
    print(f"training     shopstream ALS fit {ours:7.2f} s   implicit ALS fit alone {floor:7.2f} s   "
          f"ratio {ours / floor:.2f}")

    # 3. single-user latency -----------------------------------------------------------------
    rng = np.random.default_rng(3)
    codes = rng.integers(0, inter.n_users, args.requests).tolist()
    ours_ms = latency(als, codes)
    direct_ms = []
    with threadpool_limits(1, "blas"):
        for code in codes:
            t = time.perf_counter()
            direct.recommend(code, data.purchased[code], N=10, filter_already_liked_items=True)
            direct_ms.append((time.perf_counter() - t) * 1000)
    chosen_ms = latency(chosen, codes)
    print(f"single       shopstream ALS p50 {percentile(ours_ms, 50):.3f} ms  p99 "
          f"{percentile(ours_ms, 99):.3f} ms   implicit p50 {percentile(direct_ms, 50):.3f} ms  "
          f"p99 {percentile(direct_ms, 99):.3f} ms   p50 ratio "
          f"{statistics.median(ours_ms) / statistics.median(direct_ms):.2f}")
    print(f"             selected model ({selection.winner.name}) p50 "
          f"{percentile(chosen_ms, 50):.3f} ms  p99 {percentile(chosen_ms, 99):.3f} ms")

    # 4. batched latency ---------------------------------------------------------------------
    ours_b, direct_b = [], []
    with threadpool_limits(1, "blas"):
        for _ in range(20):
            batch = rng.integers(0, inter.n_users, args.batch)
            t = time.perf_counter()
            als.recommend_many(batch, 10)
            ours_b.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            direct.recommend(batch, data.purchased[batch], N=10, filter_already_liked_items=True)
            direct_b.append((time.perf_counter() - t) * 1000)
    per_user_ours = statistics.median(ours_b) / args.batch * 1000
    print(f"batched      {args.batch} users/batch: shopstream p50 {percentile(ours_b, 50):.1f} ms "
          f"p99 {percentile(ours_b, 99):.1f} ms ({per_user_ours:.1f} us/user)   implicit p50 "
          f"{percentile(direct_b, 50):.1f} ms p99 {percentile(direct_b, 99):.1f} ms   p50 ratio "
          f"{statistics.median(ours_b) / statistics.median(direct_b):.2f}")


if __name__ == "__main__":
    main()
