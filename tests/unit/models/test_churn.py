"""The churn_risk trigger rule: a crossing of the threshold by a valuable customer."""

from __future__ import annotations

import pytest

from models.churn import ChurnAlertRule

RULE = ChurnAlertRule(threshold=0.5, min_revenue=100.0)


@pytest.mark.parametrize(("previous_run", "previous", "risk", "revenue", "alerts"), [
    (True, 0.40, 0.55, 150.0, True),    # crossed, valuable
    (True, None, 0.55, 150.0, True),    # not forecast before (a new customer), now at risk
    (True, 0.60, 0.70, 150.0, False),   # already at risk: alerted before
    (True, 0.40, 0.45, 150.0, False),   # still below
    (True, 0.40, 0.50, 150.0, True),    # at the threshold counts
    (True, 0.40, 0.55, 99.99, False),   # not valuable enough
    (False, None, 0.90, 1e6, False),    # the tenant's first run: nothing to compare with
])
def test_alerts_only_on_a_crossing_by_a_valuable_customer(previous_run, previous, risk, revenue,
                                                          alerts):
    assert RULE.alerts(previous_run, previous, risk, revenue) is alerts
