"""The automation and quality reports' SQL, over ``triggers``, ``dead_letters`` and ``events``.

Automation, per bucket of the trigger's ``time`` (event time) and type:

- ``cart_abandoned``: ``sent`` carts abandoned; ``converted`` = ``orders`` those recovered
  (a ``cart_recovered`` naming the abandonment, before ``--to``); ``conversion_rate`` =
  recovery rate; ``revenue`` = recovered revenue; ``median_minutes`` = median minutes from
  abandonment to recovery. Recoveries count on the abandonment's bucket (a cohort), so
  the rate is of the carts abandoned then.
- ``post_purchase``, ``winback``, ``segment_changed``: ``sent``; the shopper's completed
  orders after the trigger's time and within ``followup_days`` (and before ``--to``):
  ``converted`` triggers followed by at least one, ``orders`` distinct orders, ``revenue``
  their revenue (an order counts once per bucket and type), ``median_minutes`` median
  minutes from a trigger to the first order that followed it.

Revenue is in the reporting currency; a cart or order in a currency without a rate adds
nothing to it (the report lists such amounts apart). Bots' orders follow no trigger unless
included (:mod:`sinks.analytics.bots`).

Quality, per bucket of arrival and kind: ``dead_letter`` per first reason code (bucket of
``failed_at``; a dead letter sent twice, by a sink replaying after a crash, counts once),
``late_event`` (bucket of ``received_at``: received more than the allowed lateness after
its event time), ``duplicate`` (bucket of ``seen_at``: a copy of an event already accepted,
dropped by the validation stage). ``rate`` = count / records received in the bucket
(events stored, dead letters of the validation stage and duplicates).
"""

from __future__ import annotations

from models.ecommerce import EventName as E
from sinks.analytics.bots import human_only
from sinks.analytics.currency import converted
from sinks.schema import sql_names

RANGE = "{c} >= {{start:DateTime64(3, 'UTC')}} AND {c} < {{end:DateTime64(3, 'UTC')}}"
CUSTOMER_TRIGGERS = ("post_purchase", "winback", "segment_changed")
AUTOMATION_COLUMNS = ("type", "sent", "converted", "conversion_rate", "orders", "revenue",
                      "median_minutes")
QUALITY_COLUMNS = ("kind", "code", "count", "rate")
# money in the reporting currency (sinks/analytics/currency.py): a recovered cart's value at
# the rate of its recovery's date, an order's revenue at its own date's
RECOVERIES = converted("triggers", ("value",),
                       "tenant = {tenant:String} AND type = 'cart_recovered'", time_column="time")
ORDERS = converted("events", ("revenue",),
                   f"tenant = {{tenant:String}} AND event = {sql_names(E.ORDER_COMPLETED)}")


def automation_sql(bucket: str, grain: str, include_bots: bool = False) -> str:
    """``bucket``: the grain's SQL over ``{c}``; the first column is named ``grain``."""
    at = bucket.format(c="time")
    orders = f"SELECT * FROM ({ORDERS}) WHERE 1{human_only(include_bots)}"
    return f"""
    WITH
    recovered AS (
        SELECT abandoned_trigger_id, any(value) AS value,
               any(minutes_since_abandonment) AS minutes
        FROM ({RECOVERIES})
        WHERE time < {{end:DateTime64(3, 'UTC')}}
        GROUP BY abandoned_trigger_id
    ),
    carts AS (
        SELECT {at} AS bucket, 'cart_abandoned' AS type, count() AS sent,
               countIf(r.abandoned_trigger_id != '') AS converted, converted AS orders,
               toDecimal128(sum(r.value), 4) AS revenue,
               quantileExactInclusiveIf(0.5)(r.minutes, r.abandoned_trigger_id != '')
                 AS median_minutes
        FROM (SELECT DISTINCT trigger_id, time FROM triggers
              WHERE tenant = {{tenant:String}} AND type = 'cart_abandoned'
                AND {RANGE.format(c="time")}) AS a
        LEFT JOIN recovered AS r ON r.abandoned_trigger_id = a.trigger_id
        GROUP BY bucket
    ),
    sent AS (
        SELECT DISTINCT trigger_id, type, time, user_key, {at} AS bucket FROM triggers
        WHERE tenant = {{tenant:String}} AND type IN ({sql_names(*CUSTOMER_TRIGGERS)})
          AND {RANGE.format(c="time")}
    ),
    orders AS (
        SELECT user_key, event_id, event_time, revenue FROM ({orders})
        WHERE event_time < {{end:DateTime64(3, 'UTC')}} AND user_key IN (SELECT user_key FROM sent)
    ),
    followed AS (
        SELECT s.bucket AS bucket, s.type AS type, s.trigger_id AS trigger_id,
               o.event_id AS event_id, o.revenue AS revenue,
               toUnixTimestamp64Milli(o.event_time) - toUnixTimestamp64Milli(s.time) AS ms
        FROM sent AS s INNER JOIN orders AS o ON o.user_key = s.user_key
        WHERE ms > 0 AND ms <= {{window_ms:Int64}}
    ),
    per_trigger AS (
        SELECT bucket, type, trigger_id, min(ms) / 60000 AS minutes FROM followed
        GROUP BY bucket, type, trigger_id
    ),
    per_order AS (
        SELECT bucket, type, event_id, any(revenue) AS revenue FROM followed
        GROUP BY bucket, type, event_id
    ),
    customers AS (
        SELECT s.bucket AS bucket, s.type AS type, s.sent AS sent,
               t.converted AS converted, o.orders AS orders,
               toDecimal128(o.revenue, 4) AS revenue,
               t.median_minutes AS median_minutes
        FROM (SELECT bucket, type, count() AS sent FROM sent GROUP BY bucket, type) AS s
        LEFT JOIN (SELECT bucket, type, count() AS converted,
                          quantileExactInclusive(0.5)(minutes) AS median_minutes
                   FROM per_trigger GROUP BY bucket, type) AS t
               ON t.bucket = s.bucket AND t.type = s.type
        LEFT JOIN (SELECT bucket, type, count() AS orders, sum(revenue) AS revenue
                   FROM per_order GROUP BY bucket, type) AS o
               ON o.bucket = s.bucket AND o.type = s.type
    )
    SELECT bucket AS {grain}, type, sent, converted,
           if(sent > 0, round(converted / sent, 4), 0) AS conversion_rate, orders, revenue,
           if(converted > 0, round(median_minutes, 2), NULL) AS median_minutes
    FROM (SELECT * FROM carts UNION ALL SELECT * FROM customers)
    ORDER BY {grain}, type
    """


def quality_sql(bucket: str, grain: str) -> str:
    failed, received = bucket.format(c="failed_at"), bucket.format(c="received_at")
    seen = bucket.format(c="seen_at")
    return f"""
    WITH
    letters AS (
        SELECT {failed} AS bucket, 'dead_letter' AS kind, code,
               uniqExact(stage, endpoint, source_topic, source_partition, source_offset) AS count
        FROM dead_letters
        WHERE tenant = {{tenant:String}} AND {RANGE.format(c="failed_at")}
        GROUP BY bucket, code
    ),
    late AS (
        SELECT {received} AS bucket, 'late_event' AS kind, '' AS code,
               countIf(toUnixTimestamp64Milli(received_at) - toUnixTimestamp64Milli(event_time)
                       > {{lateness_ms:Int64}}) AS count
        FROM events
        WHERE tenant = {{tenant:String}} AND {RANGE.format(c="received_at")}
        GROUP BY bucket
        HAVING count > 0
    ),
    copies AS (
        SELECT {seen} AS bucket, 'duplicate' AS kind, '' AS code,
               uniqExact(source_topic, source_partition, source_offset) AS count
        FROM duplicates
        WHERE tenant = {{tenant:String}} AND {RANGE.format(c="seen_at")}
        GROUP BY bucket
    ),
    received AS (
        SELECT bucket, sum(n) AS n FROM (
            SELECT bucket, count AS n FROM copies
            UNION ALL
            SELECT {received} AS bucket, count() AS n FROM events
            WHERE tenant = {{tenant:String}} AND {RANGE.format(c="received_at")}
            GROUP BY bucket
            UNION ALL
            SELECT {failed} AS bucket,
                   uniqExact(source_topic, source_partition, source_offset) AS n
            FROM dead_letters
            WHERE tenant = {{tenant:String}} AND stage = 'validate'
              AND {RANGE.format(c="failed_at")}
            GROUP BY bucket
        )
        GROUP BY bucket
    )
    SELECT q.bucket AS {grain}, q.kind AS kind, q.code AS code, q.count AS count,
           if(r.n > 0, round(q.count / r.n, 6), NULL) AS rate
    FROM (SELECT * FROM letters UNION ALL SELECT * FROM late UNION ALL SELECT * FROM copies) AS q
    LEFT JOIN received AS r ON r.bucket = q.bucket
    ORDER BY {grain}, kind, code
    """
