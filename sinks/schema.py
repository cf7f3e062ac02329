"""shopstream's ClickHouse schema, as an ordered list of migrations.

A migration never changes once released: add a new one. Statements are
idempotent (``IF NOT EXISTS``), so a migration interrupted half-way is simply run
again. Money is ``Decimal(18, 4)`` in rows and ``Decimal(38, 4)`` in sums; times
are ``DateTime64(3, 'UTC')``; low-cardinality strings are ``LowCardinality``;
tables are partitioned by month with the tenant first in the sort key.

Exactly-once: every table fed by the sink keeps a window of recent insert
deduplication tokens (``non_replicated_deduplication_window``); the sink and
``ingest`` give each insert a deterministic token, so a replayed batch is
recognised and skipped, here and in every materialized view
(``deduplicate_blocks_in_dependent_materialized_views``). ReplacingMergeTree on
the raw tables is only a backstop.
"""

from __future__ import annotations

from dataclasses import dataclass

DEDUP = "non_replicated_deduplication_window = 10000"
MONEY = "Decimal(18, 4)"
SUM_MONEY = "Decimal(38, 4)"
TIME = "DateTime64(3, 'UTC')"
FUNNEL_STAGES = ("visit", "product_view", "add_to_cart", "checkout", "purchase")
FUNNEL_WINDOW_MS = 86_400_000
FUNNEL_TYPE = (f"AggregateFunction(windowFunnel({FUNNEL_WINDOW_MS}), "
               "UInt64, UInt8, UInt8, UInt8, UInt8, UInt8)")
FUNNEL_STATE = (
    f"windowFunnelState({FUNNEL_WINDOW_MS})(toUInt64(toUnixTimestamp64Milli(event_time)), "
    "1, event = 'Product Viewed', event = 'Product Added', event = 'Checkout Started', "
    "event = 'Order Completed')"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


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

# -- rollups --------------------------------------------------------------------------

KPI_MINUTE = f"""
CREATE TABLE IF NOT EXISTS kpi_minute (
    tenant          LowCardinality(String),
    minute          DateTime('UTC'),
    sessions        AggregateFunction(uniqExact, String),
    users           AggregateFunction(uniqExact, String),
    event_count     SimpleAggregateFunction(sum, UInt64),
    page_views      SimpleAggregateFunction(sum, UInt64),
    product_views   SimpleAggregateFunction(sum, UInt64),
    adds            SimpleAggregateFunction(sum, UInt64),
    checkouts       SimpleAggregateFunction(sum, UInt64),
    orders          SimpleAggregateFunction(sum, UInt64),
    revenue         SimpleAggregateFunction(sum, {SUM_MONEY}),
    refunds         SimpleAggregateFunction(sum, UInt64),
    refund_amount   SimpleAggregateFunction(sum, {SUM_MONEY}),
    cancellations   SimpleAggregateFunction(sum, UInt64),
    cancel_amount   SimpleAggregateFunction(sum, {SUM_MONEY})
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant, minute)
SETTINGS {DEDUP}
"""

KPI_MINUTE_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_minute_mv TO kpi_minute AS
SELECT
    tenant,
    toStartOfMinute(event_time) AS minute,
    uniqExactState(session_id) AS sessions,
    uniqExactState(user_key) AS users,
    count() AS event_count,
    countIf(type = 'page') AS page_views,
    countIf(event = 'Product Viewed') AS product_views,
    countIf(event = 'Product Added') AS adds,
    countIf(event = 'Checkout Started') AS checkouts,
    countIf(event = 'Order Completed') AS orders,
    sumIf(toDecimal128(e.revenue, 4), event = 'Order Completed') AS revenue,
    countIf(event = 'Order Refunded') AS refunds,
    sumIf(toDecimal128(e.revenue, 4), event = 'Order Refunded') AS refund_amount,
    countIf(event = 'Order Cancelled') AS cancellations,
    sumIf(toDecimal128(e.revenue, 4), event = 'Order Cancelled') AS cancel_amount
FROM events AS e
GROUP BY tenant, minute
"""

USERS_FIRST_SEEN = f"""
CREATE TABLE IF NOT EXISTS users_first_seen (
    tenant      LowCardinality(String),
    user_key    String,
    first_seen  SimpleAggregateFunction(min, {TIME})
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, user_key)
SETTINGS {DEDUP}
"""

USERS_FIRST_SEEN_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS users_first_seen_mv TO users_first_seen AS
SELECT tenant, user_key, min(event_time) AS first_seen
FROM events
GROUP BY tenant, user_key
"""

PRODUCT_DAILY = f"""
CREATE TABLE IF NOT EXISTS product_daily (
    tenant            LowCardinality(String),
    day               Date,
    product_id        String,
    views             UInt64,
    adds              UInt64,
    removes           UInt64,
    purchases         UInt64,
    units             Int64,
    revenue           {SUM_MONEY},
    refunded_units    Int64,
    refunded_revenue  {SUM_MONEY}
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, product_id)
SETTINGS {DEDUP}
"""

PRODUCT_DAILY_EVENTS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS product_daily_events_mv TO product_daily AS
SELECT
    tenant, toDate(event_time) AS day, product_id,
    countIf(event = 'Product Viewed') AS views,
    countIf(event = 'Product Added') AS adds,
    countIf(event = 'Product Removed') AS removes,
    toUInt64(0) AS purchases, toInt64(0) AS units, toDecimal128(0, 4) AS revenue,
    toInt64(0) AS refunded_units, toDecimal128(0, 4) AS refunded_revenue
FROM events
WHERE product_id != '' AND event IN ('Product Viewed', 'Product Added', 'Product Removed')
GROUP BY tenant, day, product_id
"""

PRODUCT_DAILY_ITEMS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS product_daily_items_mv TO product_daily AS
SELECT
    tenant, toDate(event_time) AS day, product_id,
    toUInt64(0) AS views, toUInt64(0) AS adds, toUInt64(0) AS removes,
    countIf(sign > 0) AS purchases,
    sumIf(toInt64(quantity), sign > 0) AS units,
    sumIf(toDecimal128(line_total, 4), sign > 0) AS revenue,
    sumIf(toInt64(quantity), sign < 0) AS refunded_units,
    sumIf(toDecimal128(line_total, 4), sign < 0) AS refunded_revenue
FROM order_items
GROUP BY tenant, day, product_id
"""

SESSIONS = f"""
CREATE TABLE IF NOT EXISTS sessions (
    tenant       LowCardinality(String),
    session_id   String,
    started_at   SimpleAggregateFunction(min, {TIME}),
    ended_at     SimpleAggregateFunction(max, {TIME}),
    user_key     SimpleAggregateFunction(max, String),
    campaign     AggregateFunction(argMin, Tuple(String, String, String), {TIME}),
    funnel       {FUNNEL_TYPE},
    event_count  SimpleAggregateFunction(sum, UInt64),
    page_views   SimpleAggregateFunction(sum, UInt64),
    orders       SimpleAggregateFunction(sum, UInt64),
    revenue      SimpleAggregateFunction(sum, {SUM_MONEY})
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, session_id)
SETTINGS {DEDUP}
"""

SESSIONS_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv TO sessions AS
SELECT
    tenant, session_id,
    min(event_time) AS started_at,
    max(event_time) AS ended_at,
    max(e.user_key) AS user_key,
    argMinStateIf(tuple(toString(utm_source), toString(utm_medium), toString(utm_campaign)),
                  event_time, utm_source != '') AS campaign,
    {FUNNEL_STATE} AS funnel,
    count() AS event_count,
    countIf(type = 'page') AS page_views,
    countIf(event = 'Order Completed') AS orders,
    sumIf(toDecimal128(e.revenue, 4), event = 'Order Completed') AS revenue
FROM events AS e
GROUP BY tenant, session_id
"""

COUPON_DAILY = f"""
CREATE TABLE IF NOT EXISTS coupon_daily (
    tenant    LowCardinality(String),
    day       Date,
    coupon    String,
    applied   UInt64,
    denied    UInt64,
    removed   UInt64,
    orders    UInt64,
    discount  {SUM_MONEY},
    revenue   {SUM_MONEY}
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, coupon)
SETTINGS {DEDUP}
"""

COUPON_DAILY_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS coupon_daily_mv TO coupon_daily AS
SELECT
    tenant, toDate(event_time) AS day, coupon,
    countIf(event = 'Coupon Applied') AS applied,
    countIf(event = 'Coupon Denied') AS denied,
    countIf(event = 'Coupon Removed') AS removed,
    countIf(event = 'Order Completed') AS orders,
    sumIf(toDecimal128(e.discount, 4), event = 'Order Completed') AS discount,
    sumIf(toDecimal128(e.revenue, 4), event = 'Order Completed') AS revenue
FROM events AS e
WHERE coupon != ''
GROUP BY tenant, day, coupon
"""

PAGE_DAILY = f"""
CREATE TABLE IF NOT EXISTS page_daily (
    tenant    LowCardinality(String),
    day       Date,
    path      String,
    views     SimpleAggregateFunction(sum, UInt64),
    visitors  AggregateFunction(uniqExact, String),
    sessions  AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, path)
SETTINGS {DEDUP}
"""

PAGE_DAILY_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS page_daily_mv TO page_daily AS
SELECT
    tenant, toDate(event_time) AS day,
    if(page_path != '', page_path, page_url) AS path,
    count() AS views,
    uniqExactState(user_key) AS visitors,
    uniqExactState(session_id) AS sessions
FROM events
WHERE type = 'page'
GROUP BY tenant, day, path
"""

# -- ready-made views for analysts -------------------------------------------------

KPI_VIEW = """
CREATE VIEW IF NOT EXISTS kpi_{grain} AS
SELECT
    k.tenant AS tenant,
    {bucket} AS bucket,
    uniqExactMerge(k.sessions) AS sessions,
    uniqExactMerge(k.users) AS users,
    sum(k.event_count) AS events,
    sum(k.page_views) AS page_views,
    sum(k.product_views) AS product_views,
    sum(k.adds) AS adds,
    sum(k.checkouts) AS checkouts,
    sum(k.orders) AS orders,
    sum(k.revenue) AS revenue,
    sum(k.refunds) AS refunds,
    sum(k.refund_amount) AS refund_amount,
    sum(k.cancellations) AS cancellations,
    sum(k.cancel_amount) AS cancel_amount,
    sum(k.revenue) - sum(k.refund_amount) - sum(k.cancel_amount) AS net_revenue
FROM kpi_minute AS k
GROUP BY tenant, bucket
"""

FUNNEL_VIEW = f"""
CREATE VIEW IF NOT EXISTS funnel_daily AS
SELECT
    tenant, toDate(started) AS day,
    count() AS visit,
    countIf(level >= 2) AS product_view,
    countIf(level >= 3) AS add_to_cart,
    countIf(level >= 4) AS checkout,
    countIf(level >= 5) AS purchase
FROM (
    SELECT s.tenant AS tenant, s.session_id AS session_id, min(s.started_at) AS started,
           windowFunnelMerge({FUNNEL_WINDOW_MS})(s.funnel) AS level
    FROM sessions AS s GROUP BY tenant, session_id
)
GROUP BY tenant, day
"""

SESSIONS_VIEW = f"""
CREATE VIEW IF NOT EXISTS session_summary AS
SELECT
    s.tenant AS tenant, s.session_id AS session_id,
    min(s.started_at) AS started_at, max(s.ended_at) AS ended_at,
    max(s.user_key) AS user_key,
    argMinMerge(s.campaign) AS campaign,
    windowFunnelMerge({FUNNEL_WINDOW_MS})(s.funnel) AS funnel_level,
    sum(s.event_count) AS events, sum(s.page_views) AS page_views,
    sum(s.orders) AS orders, sum(s.revenue) AS revenue
FROM sessions AS s
GROUP BY tenant, session_id
"""

# -- recommender ----------------------------------------------------------------------

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

# -- live funnel snapshots (written by the worker every minute) -----------------------------

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

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "raw events, order items, sink batch log", (EVENTS, ORDER_ITEMS, SINK_BATCHES)),
    Migration(
        2,
        "rollups kept by materialized views",
        (
            KPI_MINUTE, KPI_MINUTE_MV, USERS_FIRST_SEEN, USERS_FIRST_SEEN_MV,
            PRODUCT_DAILY, PRODUCT_DAILY_EVENTS_MV, PRODUCT_DAILY_ITEMS_MV,
            SESSIONS, SESSIONS_MV, COUPON_DAILY, COUPON_DAILY_MV, PAGE_DAILY, PAGE_DAILY_MV,
        ),
    ),
    Migration(
        3,
        "ready-made views",
        (
            KPI_VIEW.format(grain="hourly", bucket="toStartOfHour(k.minute)"),
            KPI_VIEW.format(grain="daily", bucket="toDate(k.minute)"),
            FUNNEL_VIEW,
            SESSIONS_VIEW,
        ),
    ),
    Migration(4, "recommender models and published recommendations", (MODELS, RECOMMENDATIONS)),
    Migration(5, "live funnel snapshots", (FUNNEL_LIVE_MINUTE, FUNNEL_LIVE_VIEW)),
)
