"""The repeat-purchase setting: per-tenant modes, the measured rate, the decision."""

from __future__ import annotations

import pytest

from recommender.interactions import PURCHASE, VIEW, Interactions
from recommender.repeat import AUTO_MIN_PURCHASES, decide, mode_for, repeat_rate


def test_modes_per_tenant():
    assert mode_for("always", "anyone") == "always"
    setting = "pets=always, furniture=never,*=never"
    assert mode_for(setting, "pets") == "always"
    assert mode_for(setting, "furniture") == "never"
    assert mode_for(setting, "books") == "never"
    assert mode_for("pets=always", "books") == "auto"
    for bad in ("sometimes", "pets=often", "=always", "pets"):
        with pytest.raises(ValueError, match="SHOPSTREAM_RECO_REPEAT"):
            mode_for(bad, "pets")


def shop(rebuys: int, firsts: int) -> Interactions:
    """``firsts`` users buying one product once; ``rebuys`` users buying one product twice."""
    rows = []
    for u in range(firsts):
        rows.append((f"f{u}", "p1", PURCHASE, 10))
    for u in range(rebuys):
        rows += [(f"r{u}", "p2", PURCHASE, 20), (f"r{u}", "p2", PURCHASE, 10),
                 (f"r{u}", "p3", VIEW, 5)]
    users, items, kinds, times = zip(*rows, strict=True)
    return Interactions.from_rows(users, items, kinds, times)


def test_rate_counts_purchases_of_a_product_bought_before():
    # 10 single buyers, 10 double buyers: 30 purchases, 10 of them re-buys
    assert repeat_rate(shop(10, 10)) == (pytest.approx(10 / 30), 30)
    assert repeat_rate(Interactions.from_rows(["a"], ["p1"], [VIEW], [1])) == (0.0, 0)


def test_auto_applies_above_the_threshold_with_enough_purchases():
    common = decide("auto", shop(20, 20))
    assert common.applied and "re-buying is common" in common.reason and common.purchases == 60
    rare = decide("auto", shop(1, 40))
    assert not rare.applied and "re-buying is rare" in rare.reason
    few = decide("auto", shop(5, 0))
    assert few.purchases < AUTO_MIN_PURCHASES and not few.applied and "to tell" in few.reason
    assert decide("always", shop(0, 3)).applied
    assert not decide("never", shop(20, 0)).applied
    assert decide("never", shop(20, 0)).as_dict()["setting"] == "never"
