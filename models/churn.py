"""When a customer's churn risk is worth a trigger, defined once (pure).

A ``churn_risk`` trigger goes out when a training run finds a customer's risk at or above
the threshold while the previous run had it below (or did not forecast the customer), and
the customer is valuable: net revenue so far at least the minimum. The first run of a
tenant has nothing to compare with and sends none, so installing shopstream on years of
history does not alert on every customer who left long ago; nor does a run whose horizon
differs from the previous run's (a risk is of no order within the horizon: a longer or
shorter one moves every customer's, and would alert on them all).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChurnAlertRule:
    threshold: float = 0.5
    min_revenue: float = 100.0

    def alerts(self, previous_run: bool, previous_risk: float | None, risk: float,
               revenue: float) -> bool:
        """Whether this customer's forecast is a crossing worth a trigger."""
        if not previous_run or risk < self.threshold or revenue < self.min_revenue:
            return False
        return previous_risk is None or previous_risk < self.threshold
