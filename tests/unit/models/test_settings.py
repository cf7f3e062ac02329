"""Settings read from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.settings import load_settings


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
