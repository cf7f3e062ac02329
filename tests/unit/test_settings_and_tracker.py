"""Settings from the environment, and the SDK's client-side checks (no broker needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.settings import load_settings
from streams.sdk.tracker import InvalidEvent, Tracker


def test_settings_read_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("CLICKHOUSE_URL", "http://u:p@ch:8123/db")
    monkeypatch.setenv("SHOPSTREAM_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("SHOPSTREAM_DEDUPE_WINDOW_S", "60")
    s = load_settings()
    assert s.kafka_bootstrap == "k1:9092,k2:9092"
    assert s.resolved_clickhouse_url == "http://u:p@ch:8123/db"
    assert s.topics.raw == "acme.shop.events.raw" and s.topics.dlq == "acme.shop.events.dlq"
    assert s.dedupe_window_s == 60
    with pytest.raises(ValidationError, match="frozen"):
        s.topic_prefix = "other"


def test_default_clickhouse_is_embedded(monkeypatch, tmp_path):
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    s = load_settings(data_dir=tmp_path)
    assert s.resolved_clickhouse_url == f"chdb://{tmp_path}/clickhouse"


def test_validating_tracker_refuses_invalid_events():
    tracker = Tracker("127.0.0.1:1", validate=True)
    with pytest.raises(InvalidEvent) as err:
        tracker.product_viewed("u1", {"product_id": "p1", "price": -2})
    assert err.value.issues[0].code == "price_not_positive"
    assert tracker.sent == 0
