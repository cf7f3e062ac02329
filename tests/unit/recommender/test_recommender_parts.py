"""The recommender's pure parts: ranking metrics, weights and decay, splits, the gate,
the schedule, baselines, and ALS against popularity on planted structure."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recommender.als import AlsParams, AlsScorer, train_als
from recommender.baselines import popularity, top_items
from recommender.candidates import Candidate, TrainingData
from recommender.candidates import fit as fit_candidate
from recommender.evaluation import (
    Split,
    evaluate,
    leave_last_split,
    parse_duration,
    resolve_holdout,
    time_split,
)
from recommender.gate import decide
from recommender.interactions import ADD, DAY_MS, PURCHASE, REFUND, VIEW, Interactions
from recommender.matrix import Weights, purchased_matrix, user_item_matrix
from recommender.model import TrainedModel
from recommender.ranking import (
    average_precision_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    summarize,
)
from recommender.repeat import decide as decide_repeat
from recommender.runner import should_retrain
from recommender.selection import Search
from tests.planted import planted

# -- ranking metrics, by hand -----------------------------------------------------------


def test_ranking_metrics_by_hand():
    recommended = [5, 1, 7, 2, 9]
    relevant = {1, 2, 3}
    assert precision_at_k(recommended, relevant, k=5) == pytest.approx(2 / 5)
    assert recall_at_k(recommended, relevant, k=5) == pytest.approx(2 / 3)
    # hits at ranks 2 and 4: (1/2 + 2/4) / min(3, 5)
    assert average_precision_at_k(recommended, relevant, k=5) == pytest.approx((0.5 + 0.5) / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(recommended, relevant, k=5) == pytest.approx(dcg / ideal)
    assert ndcg_at_k([1, 2, 3], relevant, k=3) == pytest.approx(1.0)
    assert precision_at_k([], relevant) == 0.0


def test_summary_averages_over_test_users_and_counts_coverage():
    recs = {0: [1, 2], 1: [3, 4]}
    relevant = {0: {1}, 1: {9}}
    summary = summarize(recs, relevant, n_items=10, k=2)
    assert summary["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert summary["recall@2"] == pytest.approx((1 + 0) / 2)
    assert summary["coverage"] == pytest.approx(4 / 10)


# -- weights, decay, refunds --------------------------------------------------------------

T0 = 1_767_225_600_000


def small() -> Interactions:
    #       user  item  kind      time
    rows = [("a", "p1", VIEW, T0), ("a", "p1", ADD, T0), ("a", "p2", PURCHASE, T0),
            ("a", "p2", REFUND, T0 + 1), ("b", "p2", PURCHASE, T0 - 30 * DAY_MS),
            ("b", "p3", VIEW, T0)]
    users, items, kinds, times = zip(*rows, strict=True)
    return Interactions.from_rows(users, items, kinds, times, {"p1": "x", "p2": "y"})


def test_matrix_weights_decay_and_refunds():
    inter = small()
    m = user_item_matrix(inter, Weights(view=1, add=3, purchase=5, refund=5, half_life_days=30),
                         as_of_ms=T0)
    a, b = 0, 1
    p1, p2, p3 = 0, 1, 2
    assert m[a, p1] == pytest.approx(4.0)         # view 1 + add 3
    assert m[a, p2] == 0.0                         # bought and refunded: nothing left
    assert m[b, p2] == pytest.approx(2.5)          # a purchase 30 days (one half-life) old
    assert m[b, p3] == pytest.approx(1.0)
    bought = purchased_matrix(inter)
    assert bought[a, p2] == 0 and bought[b, p2] == 1
    assert list(inter.item_categories) == ["x", "y", ""]


def test_durations_and_auto_holdout():
    assert parse_duration("7d") == 7 * DAY_MS
    assert parse_duration("12h") == 12 * 3_600_000
    assert parse_duration("30m") == 1_800_000
    assert parse_duration("2") == 2 * DAY_MS
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("soon")
    assert resolve_holdout("auto", 100 * DAY_MS) == 7 * DAY_MS
    assert resolve_holdout("auto", 10 * 60_000) == 2 * 60_000  # 20% of a short window


# -- splits -------------------------------------------------------------------------------


def test_time_split_keeps_known_users_and_drops_bought_items():
    rows = [("a", "p1", VIEW, 0), ("a", "p2", PURCHASE, 10), ("a", "p2", VIEW, 100),
            ("a", "p3", VIEW, 100), ("b", "p1", VIEW, 100), ("c", "p4", VIEW, 5),
            ("c", "p4", REFUND, 100)]
    users, items, kinds, times = zip(*rows, strict=True)
    inter = Interactions.from_rows(users, items, kinds, times)
    split = time_split(inter, holdout_ms=50)
    assert len(split.train) == 3 and split.as_of_ms == 50
    # a: p2 was bought before the cut (not relevant), p3 is; b unknown before; c only refunds
    assert split.relevant == {0: {2}}


def test_leave_last_k_holds_out_each_users_latest_products():
    rows = [("a", "p1", VIEW, 1), ("a", "p2", VIEW, 2), ("a", "p3", VIEW, 3), ("a", "p3", ADD, 4),
            ("b", "p1", VIEW, 1), ("b", "p2", VIEW, 2)]
    users, items, kinds, times = zip(*rows, strict=True)
    inter = Interactions.from_rows(users, items, kinds, times)
    split = leave_last_split(inter, 2)
    assert split.relevant == {0: {1, 2}}  # a keeps p1 to learn from; b has only two products
    assert sorted(split.train.times.tolist()) == [1, 1, 2]


# -- gate and schedule --------------------------------------------------------------------


def test_gate():
    pop = {"precision@10": 0.10}
    assert decide({"precision@10": 0.12}, pop, None, "precision@10", 0.05).promote
    assert not decide({"precision@10": 0.10}, pop, None, "precision@10", 0.05).promote
    # within 5% of the active model's 0.20 (>= 0.19) passes; below it does not
    assert decide({"precision@10": 0.19}, pop, {"precision@10": 0.20}, "precision@10", 0.05).promote
    worse = decide({"precision@10": 0.18}, pop, {"precision@10": 0.20}, "precision@10", 0.05)
    assert not worse.promote and "active model" in worse.reason


def test_schedule():
    now = datetime(2026, 5, 1, tzinfo=UTC)
    assert should_retrain(now, None, 10, 86_400, 100) is None
    assert "orders" in should_retrain(now, None, 100, 86_400, 100)
    assert should_retrain(now, now - timedelta(hours=1), 5, 86_400, 100) is None
    assert "last trained" in should_retrain(now, now - timedelta(days=1), 5, 86_400, 100)


# -- baselines and the model --------------------------------------------------------------


def test_popularity_counts_distinct_users_and_top_items_skips_excluded():
    inter = small()
    assert popularity(inter).tolist() == [1, 2, 1]
    assert top_items(np.array([3.0, 5.0, 0.0, 4.0]), 3, exclude={1}) == [3, 0]


def test_als_beats_popularity_on_planted_groups_and_a_broken_model_does_not():
    inter, _groups = planted(groups=8, users_per_group=40, items_per_group=20, in_group=0.9)
    split = time_split(inter, 6 * DAY_MS)
    als = Search([Candidate("als", {"factors": 16, "regularization": 0.05, "alpha": 10.0,
                                    "iterations": 10})])
    repeat = decide_repeat("never", inter)
    good, _ = evaluate(split, None, Weights(), als, repeat, inter.n_users, inter.n_items)
    margin = 0.05
    model_p = good["model"]["precision@10"]
    pop_p = good["baselines"]["popularity"]["precision@10"]
    assert model_p > pop_p + margin, good
    # the same training data with products shuffled: structure gone, the margin out of reach
    rng = np.random.default_rng(0)
    shuffled = Interactions(split.train.user_ids, split.train.item_ids, split.train.users,
                            rng.permutation(split.train.items), split.train.kinds,
                            split.train.times, split.train.item_categories)
    broken, _ = evaluate(Split(shuffled, split.relevant, split.as_of_ms, "shuffled"), None,
                         Weights(), als, repeat, inter.n_users, inter.n_items)
    assert broken["model"]["precision@10"] < pop_p + margin, broken


def test_model_recommends_within_the_group_never_what_was_bought_and_round_trips(tmp_path):
    inter, groups = planted(groups=4, users_per_group=30, items_per_group=10, in_group=1.0)
    data = TrainingData.of(inter, Weights(), inter.end_ms)
    model = TrainedModel.build(AlsScorer.of(train_als(data.matrix, AlsParams(factors=8, iterations=10))),
                               data, fit_candidate(Candidate("content"), data))
    model.save(tmp_path / "v1")
    loaded = TrainedModel.load(tmp_path / "v1")
    user = 0
    recs = loaded.recommend(user, 5)
    bought = {str(inter.item_ids[i]) for i in loaded.bought(user)}
    group_items = {f"p{i:05d}" for i in range(groups[user] * 10, groups[user] * 10 + 10)}
    assert recs and not {p for p, _ in recs} & bought
    assert {p for p, _ in recs} <= group_items | bought or len(group_items - bought) < 5
    assert recs == model.recommend(user, 5)
    similar = loaded.similar(loaded.item_code("p00000"), 3)
    assert "p00000" not in {p for p, _ in similar}
    assert {p for p, _ in similar} <= {f"p{i:05d}" for i in range(10)}
    # a user who bought everything gets nothing back, not what they bought
    everything = list(range(inter.n_items))
    assert loaded.recommend(user, 5, also_exclude=everything) == []
