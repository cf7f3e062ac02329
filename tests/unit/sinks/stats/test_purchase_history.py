"""Orders -> per-customer summaries, by hand and against ``lifetimes``' own summary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from sinks.stats.purchase_history import summarise
from tests.unit.sinks.stats.cdnow import orders


def ms(day: int, hour: int = 12) -> int:
    return int(datetime(2026, 3, day, hour, tzinfo=UTC).timestamp() * 1000)


def test_orders_on_one_day_are_one_purchase_worth_their_sum():
    history = [
        ("alice", ms(1, 9), Decimal("10")), ("alice", ms(1, 18), Decimal("5")),  # day 0
        ("alice", ms(4), Decimal("20")), ("alice", ms(4, 13), Decimal("2")),  # day 3: 22
        ("alice", ms(9), Decimal("8")),  # day 8
        ("bob", ms(6), Decimal("50")),
        ("carol", ms(12), Decimal("1")),  # after the end: not counted
    ]
    s = summarise(history, ms(11, 0))  # the data ends with 2026-03-10
    assert s.customers == ["alice", "bob"]
    assert s.frequency.tolist() == [2, 0]
    assert s.recency.tolist() == [8, 0]
    assert s.age.tolist() == [9, 4]
    assert s.monetary.tolist() == [15.0, 0.0]  # (22 + 8) / 2; the first day is not a repeat
    assert s.orders.tolist() == [5, 1]
    assert s.revenue.tolist() == [45.0, 50.0]
    assert s.valued.tolist() == [2, 0]


def test_an_order_of_unknown_value_counts_as_an_order_and_not_in_the_spend():
    """An order in a currency without an exchange rate (value None): its day is a purchase
    (frequency, recency), but the mean spend (monetary) is over the days of known value only
    (``valued`` of them), and revenue sums what is known."""
    history = [
        ("alice", ms(1), Decimal("10")),
        ("alice", ms(3), None),  # a repeat day of unknown value
        ("alice", ms(5), Decimal("30")), ("alice", ms(5, 14), Decimal("6")),  # day 4: 36
        ("alice", ms(7), Decimal("4")), ("alice", ms(7, 15), None),  # day 6: partly unknown
        ("bob", ms(2), None), ("bob", ms(4), None),
    ]
    s = summarise(history, ms(11, 0))
    assert s.customers == ["alice", "bob"]
    assert s.frequency.tolist() == [3, 1]
    assert s.recency.tolist() == [6, 2]
    assert s.valued.tolist() == [1, 0]
    assert s.monetary.tolist() == [36.0, 0.0]
    assert s.orders.tolist() == [6, 2]
    assert s.revenue.tolist() == [50.0, 0.0]


def test_cdnow_summary_equals_lifetimes_summary():
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    sample = orders("CDNOW_sample.txt")
    end = int(datetime(1997, 10, 1, tzinfo=UTC).timestamp() * 1000)
    ours = summarise(sample, end)
    frame = pd.DataFrame(sample, columns=["customer", "ms", "value"])
    frame["date"] = pd.to_datetime(frame["ms"], unit="ms")
    reference = summary_data_from_transaction_data(
        frame[frame["ms"] < end], "customer", "date", monetary_value_col="value",
        observation_period_end="1997-09-30").sort_index()
    assert ours.customers == list(reference.index)
    np.testing.assert_array_equal(ours.frequency, reference["frequency"])
    np.testing.assert_array_equal(ours.recency, reference["recency"])
    np.testing.assert_array_equal(ours.age, reference["T"])
    np.testing.assert_allclose(ours.monetary, reference["monetary_value"], rtol=1e-9)
    assert len(ours.customers) == pytest.approx(2357, abs=0)
