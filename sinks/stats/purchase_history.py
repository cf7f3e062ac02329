"""Orders -> the per-customer summary the lifetime models read.

The convention of the BG/NBD literature (and of the ``lifetimes`` package): purchases are
counted per day, so orders on one day are one purchase worth their sum. For each customer,
with days counted in UTC up to the last day of the data:

- ``frequency`` (x): days with an order after the first such day;
- ``recency`` (t_x): days from the first to the last order day;
- ``age`` (T): days from the first order day to the last day of the data;
- ``monetary``: the mean value of the repeat order days whose value is known (0 without
  any), over ``valued`` such days. An order of unknown value (None: an amount in a currency
  without an exchange rate) counts as an order; its day's value is unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

DAY_MS = 86_400_000


@dataclass(frozen=True)
class PurchaseSummary:
    customers: list[str]
    frequency: NDArray[np.float64]
    recency: NDArray[np.float64]
    age: NDArray[np.float64]
    monetary: NDArray[np.float64]
    valued: NDArray[np.float64]  # repeat order days of known value: what ``monetary`` averages
    orders: NDArray[np.int64]  # every order, the first day's included
    revenue: NDArray[np.float64]  # every order's known value, summed


def day_of(ms: int) -> int:
    return ms // DAY_MS


def summarise(orders: Iterable[tuple[str, int, Decimal | float | None]],
              end_ms: int) -> PurchaseSummary:
    """Summaries of the customers with an order before ``end_ms`` (exclusive; ms since the
    epoch). ``orders`` are ``(customer, ordered_at_ms, value)``, the value None when unknown;
    later orders are ignored."""
    last_day = day_of(end_ms - 1)
    days: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    unknown: set[tuple[str, int]] = set()  # (customer, day) with an order of unknown value
    counts: dict[str, int] = defaultdict(int)
    for customer, at_ms, value in orders:
        if at_ms < end_ms:
            day = day_of(at_ms)
            days[customer][day] += 0.0 if value is None else float(value)
            if value is None:
                unknown.add((customer, day))
            counts[customer] += 1
    customers = sorted(days)
    frequency, recency, age, monetary, valued, revenue = [], [], [], [], [], []
    for customer in customers:
        ordered = sorted(days[customer].items())
        first, last = ordered[0][0], ordered[-1][0]
        repeats = [value for day, value in ordered[1:] if (customer, day) not in unknown]
        frequency.append(len(ordered) - 1)
        recency.append(last - first)
        age.append(last_day - first)
        monetary.append(sum(repeats) / len(repeats) if repeats else 0.0)
        valued.append(len(repeats))
        revenue.append(sum(value for _, value in ordered))
    return PurchaseSummary(
        customers, np.array(frequency, dtype=np.float64), np.array(recency, dtype=np.float64),
        np.array(age, dtype=np.float64), np.array(monetary, dtype=np.float64),
        np.array(valued, dtype=np.float64),
        np.array([counts[c] for c in customers], dtype=np.int64),
        np.array(revenue, dtype=np.float64))
