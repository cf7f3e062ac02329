"""The content model by hand: profile shares of category, brand and price band, times the
popularity prior; cold items reachable; products like an unseen one."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from recommender.content import ContentScorer, codes, price_bands


def test_codes_and_bands():
    assert codes(np.array(["b", "", "a", "b"], dtype=object)).tolist() == [1, -1, 0, 1]
    assert price_bands(np.array([0.0, 1.0, 3.0, 4.0, 7.99])).tolist() == [-1, 64, 65, 66, 66]


def test_scores_by_hand():
    #            item:   0      1      2      3
    categories = np.array(["shoes", "shoes", "hats", "shoes"], dtype=object)
    brands = np.array(["acme", "zeta", "acme", ""], dtype=object)
    prices = np.array([10.0, 12.0, 10.0, 100.0])
    popularity = np.array([3.0, 0.0, 1.0, 0.0])
    scorer = ContentScorer.build(categories, brands, prices, popularity)
    row = csr_matrix(np.array([[2.0, 0.0, 0.0, 0.0]], dtype=np.float32))  # engaged with item 0
    scores = scorer.scores(np.array([0]), row)[0]
    prior = 1 + np.log1p(popularity)
    # item 1: same category (0.5), other brand, same band 8-16 (0.2); a cold item (prior 1)
    assert scores[1] == pytest.approx((0.5 + 0.2) * prior[1], rel=1e-4)
    # item 2: other category, same brand (0.3) and band (0.2)
    assert scores[2] == pytest.approx((0.3 + 0.2) * prior[2], rel=1e-4)
    # item 3: same category only
    assert scores[3] == pytest.approx(0.5 * prior[3], rel=1e-4)
    names = {"category": categories, "brand": brands}
    assert scorer.similar_to("hats", "acme", 11.0, 2, names).tolist() == [2, 0]
    assert scorer.similar_to("", "", 0.0, 2, names).tolist() == []
