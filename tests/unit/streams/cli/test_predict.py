"""The table ``predict train`` and ``predict report`` print from a run."""

from __future__ import annotations

from streams.cli.predict import evaluation_table

PARAMS = {"bgnbd": {"r": 0.2671277, "alpha": 41.9, "a": 0.48, "b": 2.11},
          "gamma_gamma": {"p": 5.09, "q": 4.0, "v": 21.25}}


def test_figures_then_parameters():
    evaluation = {"rule_days": 90.0, "customers": 100, "churned": 80, "auc_model": 0.83064,
                  "auc_recency_rule": 0.71516, "auc_recency_days": 0.82799,
                  "orders_actual": 30, "orders_model": 33.33, "revenue_actual": 1000.0,
                  "revenue_model": 1100.0, "revenue_baseline": 1300.0,
                  "revenue_error_model": 0.1, "revenue_error_baseline": 0.3,
                  "revenue_mae_model": 5.0, "revenue_mae_baseline": 6.0}
    table = evaluation_table({"horizon_days": 90.0, "params": PARAMS, "evaluation": evaluation})
    rows = {r["figure"]: r for r in table.records()}
    assert (rows["churn AUC"]["model"], rows["churn AUC"]["baseline"]) == (0.8306, 0.7152)
    assert rows["churn AUC"]["note"] == "recency > 90 days"
    held_out = rows["revenue in the 90 days held out"]
    assert (held_out["model"], held_out["baseline"], held_out["actual"]) == (1100.0, 1300.0, 1000.0)
    assert rows["bgnbd r"]["model"] == 0.267128
    assert len(table.rows) == 7 + 7


def test_a_skipped_evaluation_says_why():
    table = evaluation_table({"horizon_days": 30.0, "params": PARAMS,
                              "evaluation": {"skipped": "no orders before the evaluation's cut"}})
    assert table.rows[0] == ["evaluation", None, None, None, "no orders before the evaluation's cut"]
