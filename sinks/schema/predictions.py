"""The customer lifetime model's tables (migration 7): each training run, and the latest
forecast per customer."""

from __future__ import annotations

from sinks.schema.types import MONEY, TIME

PREDICTION_RUNS = f"""
CREATE TABLE IF NOT EXISTS prediction_runs (
    tenant        LowCardinality(String),
    run_at        {TIME},
    data_end      {TIME},
    horizon_days  Float64,
    customers     UInt32,
    params        String,
    evaluation    String
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, run_at)
"""

CUSTOMER_PREDICTIONS = f"""
CREATE TABLE IF NOT EXISTS customer_predictions (
    tenant            LowCardinality(String),
    user_key          String,
    run_at            {TIME},
    repeat_days       UInt32,
    recency_days      UInt32,
    age_days          UInt32,
    p_alive           Float64,
    expected_orders   Float64,
    expected_revenue  {MONEY},
    churn_risk        Float64
)
ENGINE = ReplacingMergeTree(run_at)
ORDER BY (tenant, user_key)
"""
