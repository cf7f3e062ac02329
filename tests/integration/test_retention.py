"""Retention on the real ClickHouse engine: the settings' TTLs are set once, changed when the
settings change, removed at 0, and expired rows go at the next merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sinks.migrations import apply_retention
from sinks.rows import EVENT_COLUMNS, rows_for
from sinks.schema.retention import Retention

pytestmark = pytest.mark.integration


def engine_of(client, table: str) -> str:
    return client.query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                        "AND name = {t:String}", parameters={"t": table}).result_rows[0][0]


def event(message_id: str, received: datetime) -> dict:
    return {"type": "page", "messageId": message_id, "tenant": "t1", "userId": "u1",
            "timestamp": "2019-10-01T10:00:00.000Z",
            "receivedAt": received.isoformat().replace("+00:00", "Z")}


def test_ttls_follow_the_settings_and_expired_rows_go(clickhouse):
    first = apply_retention(clickhouse, Retention(365, 0))
    assert first == ["ALTER TABLE events MODIFY TTL toDateTime(received_at) + toIntervalDay(365)"]
    assert " TTL toDateTime(received_at) + toIntervalDay(365) " in engine_of(clickhouse, "events")
    assert " TTL " not in engine_of(clickhouse, "kpi_minute")
    assert apply_retention(clickhouse, Retention(365, 0)) == []  # already so: nothing runs

    assert sorted(apply_retention(clickhouse, Retention(30, 1095))) == sorted([
        "ALTER TABLE events MODIFY TTL toDateTime(received_at) + toIntervalDay(30)",
        "ALTER TABLE order_items MODIFY TTL toDateTime(event_time) + toIntervalDay(1095)",
        "ALTER TABLE kpi_minute MODIFY TTL minute + toIntervalDay(1095)",
        "ALTER TABLE product_daily MODIFY TTL day + toIntervalDay(1095)",
        "ALTER TABLE coupon_daily MODIFY TTL day + toIntervalDay(1095)",
        "ALTER TABLE page_daily MODIFY TTL day + toIntervalDay(1095)",
        "ALTER TABLE funnel_live_minute MODIFY TTL minute + toIntervalDay(1095)"])

    now = datetime.now(UTC)
    rows = [rows_for(event("old", now - timedelta(days=31)))[0],
            rows_for(event("new", now - timedelta(days=29)))[0]]
    clickhouse.insert("events", rows, column_names=list(EVENT_COLUMNS))
    clickhouse.command("OPTIMIZE TABLE events FINAL")
    kept = clickhouse.query("SELECT event_id FROM events ORDER BY event_id").result_rows
    assert kept == [("new",)]  # received 31 days ago: gone; 29 days ago: kept (both 2019 events)

    apply_retention(clickhouse, Retention(0, 0))
    assert all(" TTL " not in engine_of(clickhouse, t) for t in ("events", "kpi_minute", "order_items"))
