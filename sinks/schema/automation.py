"""Triggers and dead letters in ClickHouse (migration 8): what automation was sent, what
could not be used, and which events came twice (the duplicates the validation stage drops),
written exactly once by the sink from their Kafka topics."""

from __future__ import annotations

from sinks.schema.types import DEDUP, MONEY, TIME

TRIGGERS = f"""
CREATE TABLE IF NOT EXISTS triggers (
    tenant                     LowCardinality(String),
    trigger_id                 String,
    type                       LowCardinality(String),
    time                       {TIME},
    emitted_at                 {TIME},
    user_id                    String,
    anonymous_id               String,
    user_key                   String,
    cart_id                    String,
    order_id                   String,
    session_id                 String,
    value                      {MONEY},
    currency                   LowCardinality(String),
    abandoned_trigger_id       String,
    minutes_since_abandonment  Float64,
    payload                    String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, type, time, trigger_id)
SETTINGS {DEDUP}
"""

DEAD_LETTERS = f"""
CREATE TABLE IF NOT EXISTS dead_letters (
    tenant             LowCardinality(String),
    failed_at          {TIME},
    stage              LowCardinality(String),
    code               LowCardinality(String),
    reasons            String,
    source_topic       String,
    source_partition   Int64,
    source_offset      Int64,
    source_key         String,
    payload            String CODEC(ZSTD(3)),
    payload_encoding   LowCardinality(String),
    payload_bytes      UInt64,
    payload_truncated  UInt8,
    endpoint           String,
    attempts           UInt32,
    topic              String,
    partition          UInt32,
    offset             UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (tenant, failed_at, topic, partition, offset)
SETTINGS {DEDUP}
"""

DUPLICATES = f"""
CREATE TABLE IF NOT EXISTS duplicates (
    tenant            LowCardinality(String),
    message_id        String,
    event_time        {TIME},
    seen_at           {TIME},
    source_topic      String,
    source_partition  UInt32,
    source_offset     UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(seen_at)
ORDER BY (tenant, seen_at, source_topic, source_partition, source_offset)
SETTINGS {DEDUP}
"""
