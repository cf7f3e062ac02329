"""The raw tables the sink and the recommender write, and the live-funnel snapshots."""

from __future__ import annotations

from sinks.schema.types import DEDUP, MONEY, TIME

EVENTS = f"""
CREATE TABLE IF NOT EXISTS events (
    tenant        LowCardinality(String),
    event_id      String,
    type          LowCardinality(String),
    event         LowCardinality(String),
    event_time    {TIME},
    received_at   {TIME},
    user_id       String,
    anonymous_id  String,
    user_key      String,
    session_id    String,
    product_id    String,
    cart_id       String,
    order_id      String,
    revenue       {MONEY},
    value         {MONEY},
    discount      {MONEY},
    currency      LowCardinality(String),
    quantity      Int32,
    price         {MONEY},
    category      LowCardinality(String),
    brand         LowCardinality(String),
    coupon        String,
    utm_source    LowCardinality(String),
    utm_medium    LowCardinality(String),
    utm_campaign  LowCardinality(String),
    page_url      String,
    page_path     String,
    referrer      String,
    properties    String CODEC(ZSTD(3)),
    context       String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant, event_time, event_id)
SETTINGS {DEDUP}
"""

ORDER_ITEMS = f"""
CREATE TABLE IF NOT EXISTS order_items (
    tenant       LowCardinality(String),
    event_id     String,
    line         UInt16,
    event        LowCardinality(String),
    sign         Int8,
    event_time   {TIME},
    order_id     String,
    user_key     String,
    product_id   String,
    category     LowCardinality(String),
    brand        LowCardinality(String),
    quantity     Int32,
    price        {MONEY},
    discount     {MONEY},
    line_total   {MONEY},
    currency     LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant, event_time, order_id, event_id, line)
SETTINGS {DEDUP}
"""

SINK_BATCHES = f"""
CREATE TABLE IF NOT EXISTS sink_batches (
    consumer_group String,
    topic          String,
    partition      UInt32,
    first_offset   UInt64,
    last_offset    UInt64,
    rows           UInt32,
    written_at     {TIME} DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (consumer_group, topic, partition, first_offset)
TTL toDateTime(written_at) + INTERVAL 30 DAY
"""

MODELS = f"""
CREATE TABLE IF NOT EXISTS models (
    tenant       LowCardinality(String),
    version      UInt32,
    trained_at   {TIME},
    data_start   {TIME},
    data_end     {TIME},
    params       String,
    metrics      String,
    status       LowCardinality(String),
    note         String,
    path         String,
    updated_at   {TIME} DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant, version)
"""

RECOMMENDATIONS = f"""
CREATE TABLE IF NOT EXISTS recommendations (
    tenant        LowCardinality(String),
    user_key      String,
    version       UInt32,
    generated_at  {TIME},
    product_ids   Array(String),
    scores        Array(Float32)
)
ENGINE = ReplacingMergeTree(generated_at)
ORDER BY (tenant, user_key)
"""

FUNNEL_LIVE_MINUTE = """
CREATE TABLE IF NOT EXISTS funnel_live_minute (
    tenant        LowCardinality(String),
    minute        DateTime('UTC'),
    utm_source    LowCardinality(String),
    partition     UInt16,
    visit         UInt64,
    product_view  UInt64,
    add_to_cart   UInt64,
    checkout      UInt64,
    purchase      UInt64,
    snapshot_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(snapshot_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant, minute, utm_source, partition)
"""

FUNNEL_LIVE_VIEW = """
CREATE VIEW IF NOT EXISTS funnel_live AS
SELECT tenant, minute, utm_source,
       sum(visit) AS visit, sum(product_view) AS product_view, sum(add_to_cart) AS add_to_cart,
       sum(checkout) AS checkout, sum(purchase) AS purchase
FROM funnel_live_minute FINAL
GROUP BY tenant, minute, utm_source
"""
