"""Retention: TTL statements from the settings, run only when a table's TTL differs."""

from __future__ import annotations

import pytest

from models.settings import load_settings
from sinks.schema.retention import (
    Retention,
    current_ttl,
    retention_of,
    retention_statement,
    wanted_ttls,
)

EVENTS_ENGINE = ("ReplacingMergeTree PARTITION BY toYYYYMM(event_time) ORDER BY (tenant, event_time, "
                 "event_id) TTL toDateTime(received_at) + toIntervalDay(365) SETTINGS "
                 "non_replicated_deduplication_window = 10000, index_granularity = 8192")


def test_defaults_keep_raw_events_a_year_after_receipt_and_rollups_forever():
    wanted = wanted_ttls(retention_of(load_settings()))
    assert wanted["events"] == "toDateTime(received_at) + toIntervalDay(365)"
    assert wanted["kpi_minute"] is None and wanted["order_items"] is None
    longer = wanted_ttls(Retention(30, 730))
    assert longer["product_daily"] == "day + toIntervalDay(730)"
    assert longer["order_items"] == "toDateTime(event_time) + toIntervalDay(730)"
    with pytest.raises(ValueError):
        Retention(-1, 0)


def test_statements_only_for_a_change():
    assert current_ttl(EVENTS_ENGINE) == "toDateTime(received_at) + toIntervalDay(365)"
    assert current_ttl("MergeTree ORDER BY x SETTINGS index_granularity = 8192") is None
    same = retention_statement("events", "toDateTime(received_at) + toIntervalDay(365)",
                               current_ttl(EVENTS_ENGINE))
    assert same is None
    assert retention_statement("events", "toDateTime(received_at) + toIntervalDay(30)",
                               current_ttl(EVENTS_ENGINE)) == (
        "ALTER TABLE events MODIFY TTL toDateTime(received_at) + toIntervalDay(30)")
    assert retention_statement("events_local", None, "x", " ON CLUSTER c") == (
        "ALTER TABLE events_local ON CLUSTER c REMOVE TTL")
    assert retention_statement("kpi_minute", None, None) is None
