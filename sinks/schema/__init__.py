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
the raw tables is only a backstop."""

from __future__ import annotations

from sinks.schema.automation import DEAD_LETTERS, DUPLICATES, TRIGGERS
from sinks.schema.bots import BOT_STATEMENTS
from sinks.schema.currency import CURRENCY_STATEMENTS
from sinks.schema.enrichment import ENRICHMENT_STATEMENTS
from sinks.schema.identity import IDENTITY_STATEMENTS, SESSION_EVENTS_OF_SESSION_CALLS
from sinks.schema.predictions import CUSTOMER_PREDICTIONS, PREDICTION_RUNS
from sinks.schema.privacy import PRIVACY_REQUESTS
from sinks.schema.rollups import (
    COUPON_DAILY,
    COUPON_DAILY_MV,
    FUNNEL_VIEW,
    KPI_MINUTE,
    KPI_MINUTE_MV,
    KPI_VIEW,
    PAGE_DAILY,
    PAGE_DAILY_MV,
    PRODUCT_DAILY,
    PRODUCT_DAILY_EVENTS_MV,
    PRODUCT_DAILY_ITEMS_MV,
    SESSIONS,
    SESSIONS_MV,
    SESSIONS_VIEW,
    USERS_FIRST_SEEN,
    USERS_FIRST_SEEN_MV,
)
from sinks.schema.sessions import (
    FUNNEL_COUNTS,
    FUNNEL_DAILY_VIEW,
    SESSION_EVENTS_VIEW,
    SESSION_SUMMARY_VIEW,
    kpi_sessions_view,
)
from sinks.schema.tables import (
    EVENTS,
    FUNNEL_LIVE_MINUTE,
    FUNNEL_LIVE_VIEW,
    MODELS,
    ORDER_ITEMS,
    RECOMMENDATIONS,
    SINK_BATCHES,
)
from sinks.schema.types import FUNNEL_STATE, Migration, sql_names

__all__ = ["FUNNEL_COUNTS", "FUNNEL_STATE", "MIGRATIONS", "SESSION_EVENTS_VIEW", "Migration", "sql_names"]

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
    Migration(
        6,
        "one session rule: sessions computed from events (gap rule), views rebuilt on them",
        (
            SESSION_EVENTS_VIEW,
            SESSION_SUMMARY_VIEW,
            FUNNEL_DAILY_VIEW,
            kpi_sessions_view("hourly"),
            kpi_sessions_view("daily"),
            # the bucket-keyed sessions rollup: no materialized view can keep gap sessions
            "DROP VIEW IF EXISTS sessions_mv",
            "DROP TABLE IF EXISTS sessions",
        ),
    ),
    Migration(7, "customer lifetime predictions and their runs",
              (PREDICTION_RUNS, CUSTOMER_PREDICTIONS)),
    Migration(8, "triggers, dead letters and duplicates", (TRIGGERS, DEAD_LETTERS, DUPLICATES)),
    Migration(9, "enrichment columns of events (device, bot, place, source class); sessions "
              "carry the bot flag", ENRICHMENT_STATEMENTS),
    Migration(10, "alias and group calls: the previous id and the group id",
              ("ALTER TABLE events ADD COLUMN IF NOT EXISTS previous_id String, "
               "ADD COLUMN IF NOT EXISTS group_id String",)),
    Migration(11, "exchange rates (fx_rates)", CURRENCY_STATEMENTS),
    Migration(12, "identity links, users' traits, events resolved to people", IDENTITY_STATEMENTS),
    Migration(13, "the audit of privacy requests (erase, export)", (PRIVACY_REQUESTS,)),
    Migration(14, "kpi_hourly and kpi_daily leave bots out (kpi_*_with_bots keep them)", BOT_STATEMENTS),
    Migration(15, "sessions are made of track and page calls (alias and group calls were "
              "sessions of their own)", (SESSION_EVENTS_OF_SESSION_CALLS,)),
)
