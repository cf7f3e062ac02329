"""Scorers by hand: top-k with exclusions and ties, buy again ahead of the rest, the blend,
and every family saved and loaded back unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from recommender.candidates import Candidate, TrainingData, buy_again_matrix, fit
from recommender.families import load_scorer, scorer_arrays
from recommender.interactions import PURCHASE, REFUND, VIEW, Interactions
from recommender.matrix import Weights
from recommender.scorers import first_then, top_k
from tests.planted import planted


def test_top_k_excludes_and_breaks_ties_by_code():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 0.5]])
    assert top_k(scores, 3) == [[1, 2, 3]]
    exclude = csr_matrix(np.array([[0, 1, 0, 0, 0]], dtype=np.float32))
    assert top_k(scores, 3, exclude) == [[2, 3, 0]]
    everything = csr_matrix(np.ones((1, 5), dtype=np.float32))
    assert top_k(scores, 3, everything) == [[]]


def test_first_then_puts_positive_first_scores_ahead():
    first = np.array([[0.0, 2.0, 0.0, 1.0]])
    then = np.array([[9.0, 0.0, 5.0, 0.0]])
    assert top_k(first_then(first, then), 4) == [[1, 3, 0, 2]]


def test_buy_again_counts_recent_purchases_more_and_refunds_take_back():
    day = 86_400_000
    rows = [("a", "p1", PURCHASE, 0), ("a", "p2", PURCHASE, 9 * day), ("a", "p3", PURCHASE, 9 * day),
            ("a", "p3", REFUND, 9 * day + 1), ("a", "p4", VIEW, 9 * day)]
    users, items, kinds, times = zip(*rows, strict=True)
    inter = Interactions.from_rows(users, items, kinds, times)
    again = buy_again_matrix(inter, 10 * day, half_life_days=1.0).toarray()[0]
    assert again[1] == pytest.approx(0.5)           # p2: bought a day ago
    assert again[0] == pytest.approx(0.5 ** 10)     # p1: ten days ago
    assert again[2] == 0 and again[3] == 0          # p3 refunded; p4 only viewed
    scorer = fit(Candidate("buy_again", {"half_life_days": 1.0}),
                 TrainingData.of(inter, Weights(), 10 * day))
    assert top_k(scorer.scores(np.array([0]), csr_matrix((1, 4))), 2) == [[1, 0]]


@pytest.mark.parametrize("candidate", [
    Candidate("popularity"), Candidate("recent_popularity"),
    Candidate("buy_again", {"half_life_days": 3.0}), Candidate("content"),
    Candidate("item_knn", {"weighting": "bm25", "neighbours": 20}),
    Candidate("als", {"factors": 8, "regularization": 0.05, "alpha": 10.0, "iterations": 3}),
    Candidate("blend", {"first": Candidate("buy_again", {"half_life_days": 3.0}),
                        "then": Candidate("item_knn", {"weighting": "tfidf", "neighbours": 20})}),
], ids=lambda c: c.family)
def test_every_family_round_trips(candidate, tmp_path):
    inter, _ = planted(groups=3, users_per_group=10, items_per_group=8, per_user=15)
    data = TrainingData.of(inter, Weights(), inter.end_ms)
    scorer = fit(candidate, data)
    users = np.arange(5)
    before = scorer.scores(users, data.matrix[users])
    assert before.shape == (5, inter.n_items)
    np.savez(tmp_path / "s.npz", **scorer_arrays(scorer))
    with np.load(tmp_path / "s.npz", allow_pickle=False) as saved:
        loaded = load_scorer({k: saved[k] for k in saved.files})
    assert loaded.family == scorer.family
    np.testing.assert_allclose(loaded.scores(users, data.matrix[users]), before, rtol=1e-6)
    assert Candidate.from_dict(candidate.as_dict()) == candidate


def test_unknown_family_is_a_clear_error():
    inter, _ = planted(groups=2, users_per_group=5, items_per_group=5, per_user=5)
    with pytest.raises(ValueError, match="unknown recommender family"):
        fit(Candidate("magic"), TrainingData.of(inter, Weights(), inter.end_ms))
