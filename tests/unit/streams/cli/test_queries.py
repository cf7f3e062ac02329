"""Report parameters travel to the worker and back unchanged; the rules come from settings."""

from __future__ import annotations

from datetime import UTC, datetime

from models.settings import load_settings
from streams.cli.queries import params_from_query, report_params, report_query


def test_parameters_round_trip_through_the_worker_query():
    settings = load_settings(experiment_alpha=0.01, experiment_mde=0.2)
    params = report_params(settings, tenant="t1", start=datetime(2026, 3, 1, tzinfo=UTC),
                           grain="week", limit=5)
    query = report_query(params)
    assert "experiment_rules" not in query and "segment_rules" not in query
    assert params_from_query({k: str(v) for k, v in query.items()}, settings) == params
    assert (params.experiment_rules.alpha, params.experiment_rules.mde) == (0.01, 0.2)


def test_no_grain_leaves_each_report_its_default():
    settings = load_settings()
    assert report_params(settings).grain is None
    assert params_from_query({}, settings).grain is None


def test_bots_and_dimension_travel_to_the_worker_and_back():
    settings = load_settings()
    for include_bots, by in ((True, "country"), (False, None)):
        params = report_params(settings, include_bots=include_bots, by=by)
        query = report_query(params)
        assert ("include_bots" in query) is include_bots
        assert params_from_query({k: str(v) for k, v in query.items()}, settings) == params
