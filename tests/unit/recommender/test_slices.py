"""Slices: cold and heavy users, cold items; hit rate and novelty by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.ranking import hit_at_k, self_information, summarize
from recommender.slices import cold_item_relevance, heavy_threshold, user_slices


def test_user_slices():
    counts = np.array([1, 2, 3, 10, 50, 0, 4, 5, 6, 7, 8])
    slices = user_slices([0, 1, 2, 3, 4], counts)
    assert slices["cold_users"] == [0, 1]
    assert heavy_threshold(counts) == pytest.approx(np.quantile(counts[counts > 0], 0.9))
    assert slices["heavy_users"] == [4]
    assert slices["all"] == [0, 1, 2, 3, 4]


def test_cold_items_keep_only_untouched_products():
    popularity = np.array([5.0, 0.0, 2.0, 0.0])
    assert cold_item_relevance({0: {0, 1}, 1: {2}, 2: {3}}, popularity) == {0: {1}, 2: {3}}


def test_hit_rate_and_novelty_by_hand():
    assert hit_at_k([3, 4], {4}) == 1.0 and hit_at_k([3, 4], {9}) == 0.0
    popularity = np.array([8.0, 2.0, 0.0])
    novelty = self_information(popularity, n_users=8)
    assert novelty.tolist() == pytest.approx([0.0, 2.0, 3.0])
    summary = summarize({0: [0, 1], 1: [2]}, {0: {1}, 1: {0}}, n_items=3, k=2, novelty=novelty)
    assert summary["hit_rate@2"] == pytest.approx(0.5)
    assert summary["novelty"] == pytest.approx(((0 + 2) / 2 + 3) / 2)
    assert not math.isnan(summary["coverage"])
