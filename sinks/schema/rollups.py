"""Rollups kept by materialized views, and the views over them (migrations 2 and 3)."""

from __future__ import annotations

from models.ecommerce import EventName as E
from sinks.schema.types import DEDUP, FUNNEL_STATE, FUNNEL_TYPE, FUNNEL_WINDOW_MS, SUM_MONEY, TIME, sql_names

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

KPI_MINUTE_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_minute_mv TO kpi_minute AS
SELECT
    tenant,
    toStartOfMinute(event_time) AS minute,
    uniqExactState(session_id) AS sessions,
    uniqExactState(user_key) AS users,
    count() AS event_count,
    countIf(type = 'page') AS page_views,
    countIf(event = {sql_names(E.PRODUCT_VIEWED)}) AS product_views,
    countIf(event = {sql_names(E.PRODUCT_ADDED)}) AS adds,
    countIf(event = {sql_names(E.CHECKOUT_STARTED)}) AS checkouts,
    countIf(event = {sql_names(E.ORDER_COMPLETED)}) AS orders,
    sumIf(toDecimal128(e.revenue, 4), event = {sql_names(E.ORDER_COMPLETED)}) AS revenue,
    countIf(event = {sql_names(E.ORDER_REFUNDED)}) AS refunds,
    sumIf(toDecimal128(e.revenue, 4), event = {sql_names(E.ORDER_REFUNDED)}) AS refund_amount,
    countIf(event = {sql_names(E.ORDER_CANCELLED)}) AS cancellations,
    sumIf(toDecimal128(e.revenue, 4), event = {sql_names(E.ORDER_CANCELLED)}) AS cancel_amount
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

PRODUCT_DAILY_EVENTS_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS product_daily_events_mv TO product_daily AS
SELECT
    tenant, toDate(event_time) AS day, product_id,
    countIf(event = {sql_names(E.PRODUCT_VIEWED)}) AS views,
    countIf(event = {sql_names(E.PRODUCT_ADDED)}) AS adds,
    countIf(event = {sql_names(E.PRODUCT_REMOVED)}) AS removes,
    toUInt64(0) AS purchases, toInt64(0) AS units, toDecimal128(0, 4) AS revenue,
    toInt64(0) AS refunded_units, toDecimal128(0, 4) AS refunded_revenue
FROM events
WHERE product_id != '' AND event IN ({sql_names(E.PRODUCT_VIEWED, E.PRODUCT_ADDED, E.PRODUCT_REMOVED)})
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
    countIf(event = {sql_names(E.ORDER_COMPLETED)}) AS orders,
    sumIf(toDecimal128(e.revenue, 4), event = {sql_names(E.ORDER_COMPLETED)}) AS revenue
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

COUPON_DAILY_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS coupon_daily_mv TO coupon_daily AS
SELECT
    tenant, toDate(event_time) AS day, coupon,
    countIf(event = {sql_names(E.COUPON_APPLIED)}) AS applied,
    countIf(event = {sql_names(E.COUPON_DENIED)}) AS denied,
    countIf(event = {sql_names(E.COUPON_REMOVED)}) AS removed,
    countIf(event = {sql_names(E.ORDER_COMPLETED)}) AS orders,
    sumIf(toDecimal128(e.discount, 4), event = {sql_names(E.ORDER_COMPLETED)}) AS discount,
    sumIf(toDecimal128(e.revenue, 4), event = {sql_names(E.ORDER_COMPLETED)}) AS revenue
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
