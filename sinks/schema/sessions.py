"""Sessions by the one session rule (:mod:`models.funnel`), computed from ``events`` when queried,
and the views rebuilt on them (migration 6): no materialized view can keep gap sessions."""

from __future__ import annotations

from models.ecommerce import EventName as E
from models.funnel import FUNNEL_STAGES, GAP_PREFIX, IDENTIFY_CALL, SESSION_GAP_MS
from sinks.rows import SESSION_BUCKET_S
from sinks.schema.types import FUNNEL_ARGS, sql_names

LEGACY_BUCKET_ID = (
    f"concat(user_key, ':', toString(intDiv(toUnixTimestamp(event_time), {SESSION_BUCKET_S})))"
)


SESSION_EVENT_COLUMNS = ("event_id, type, event, event_time, user_key, product_id, order_id, "
                         "revenue, utm_source, utm_medium, utm_campaign, page_path")


SESSION_RUN = "(PARTITION BY tenant, user_key ORDER BY ms ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"


SESSION_EVENTS_VIEW = f"""
CREATE VIEW IF NOT EXISTS session_events AS
WITH shopping AS (
    SELECT tenant, {SESSION_EVENT_COLUMNS},
           if(session_id = {LEGACY_BUCKET_ID}, '', session_id) AS sent_session,
           toUnixTimestamp64Milli(event_time) AS ms
    FROM events
    WHERE type != '{IDENTIFY_CALL}' AND user_key != ''
)
SELECT tenant, sent_session AS session_id, {SESSION_EVENT_COLUMNS}
FROM shopping
WHERE sent_session != ''
UNION ALL
SELECT tenant,
       concat('{GAP_PREFIX}', user_key, '@', toString(max(if(starts, ms, 0)) OVER {SESSION_RUN}))
           AS session_id,
       {SESSION_EVENT_COLUMNS}
FROM (
    SELECT *, ms - lagInFrame(ms, 1, ms - {SESSION_GAP_MS}) OVER {SESSION_RUN} >= {SESSION_GAP_MS}
              AS starts
    FROM shopping
    WHERE sent_session = ''
)
"""

SESSION_SUMMARY_VIEW = f"""
CREATE OR REPLACE VIEW session_summary AS
SELECT
    e.tenant AS tenant, e.session_id AS session_id,
    min(e.event_time) AS started_at, max(e.event_time) AS ended_at,
    max(e.user_key) AS user_key,
    argMinIf(tuple(toString(e.utm_source), toString(e.utm_medium), toString(e.utm_campaign)),
             e.event_time, e.utm_source != '') AS campaign,
    windowFunnel{FUNNEL_ARGS} AS funnel_level,
    count() AS events, countIf(e.type = 'page') AS page_views,
    countIf(event = {sql_names(E.ORDER_COMPLETED)}) AS orders,
    sumIf(toDecimal128(e.revenue, 4), event = {sql_names(E.ORDER_COMPLETED)}) AS revenue
FROM session_events AS e
GROUP BY tenant, session_id
"""

FUNNEL_COUNTS = ",\n    ".join(f"countIf(funnel_level >= {level}) AS {stage}"
                                for level, stage in enumerate(FUNNEL_STAGES, 1))


FUNNEL_DAILY_VIEW = f"""
CREATE OR REPLACE VIEW funnel_daily AS
SELECT
    tenant, toDate(started_at) AS day,
    {FUNNEL_COUNTS}
FROM session_summary
GROUP BY tenant, day
"""

KPI_SESSIONS_VIEW = """
CREATE OR REPLACE VIEW kpi_{grain} AS
SELECT
    k.tenant AS tenant, k.bucket AS bucket, s.sessions AS sessions, k.users AS users,
    k.events AS events, k.page_views AS page_views, k.product_views AS product_views,
    k.adds AS adds, k.checkouts AS checkouts, k.orders AS orders, k.revenue AS revenue,
    k.refunds AS refunds, k.refund_amount AS refund_amount,
    k.cancellations AS cancellations, k.cancel_amount AS cancel_amount,
    k.revenue - k.refund_amount - k.cancel_amount AS net_revenue
FROM (
    SELECT
        k.tenant AS tenant, {bucket} AS bucket,
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
        sum(k.cancel_amount) AS cancel_amount
    FROM kpi_minute AS k
    GROUP BY tenant, bucket
) AS k
LEFT JOIN (
    SELECT e.tenant AS tenant, {event_bucket} AS bucket, uniqExact(e.session_id) AS sessions
    FROM session_events AS e
    GROUP BY tenant, bucket
) AS s ON s.tenant = k.tenant AND s.bucket = k.bucket
"""

KPI_GRAINS = {"hourly": "toStartOfHour({c})", "daily": "toDate({c})"}


def kpi_sessions_view(grain: str) -> str:
    bucket = KPI_GRAINS[grain]
    return KPI_SESSIONS_VIEW.format(grain=grain, bucket=bucket.format(c="k.minute"),
                                    event_bucket=bucket.format(c="toDateTime(e.event_time, 'UTC')"))
