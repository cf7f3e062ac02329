"""Retention: how long each table keeps its rows, as ClickHouse TTLs from the settings.

Not a migration (the periods are settings, and change): :func:`sinks.migrations.apply_retention`
brings each table's TTL to what the settings say every time the schema is brought up to date
(``shopstream migrate``, the worker, ``ingest``), and does nothing when it already is.

- ``events`` keeps ``SHOPSTREAM_RETENTION_EVENTS_DAYS`` (365) days from when shopstream
  received each event (``received_at``), not from its event time: a backfill of old data
  (``ingest`` of a 2019 file) is kept for the period too, instead of being dropped at once;
- ``order_items`` and the rollups kept by materialized views keep
  ``SHOPSTREAM_RETENTION_ROLLUPS_DAYS`` days of event time, by default 0: forever (their rows
  do not depend on the raw rows once written, so they outlive them).

0 keeps rows forever. ClickHouse removes expired rows when it merges parts (at the latest
every four hours, ``merge_with_ttl_timeout``), and at once from existing parts when a TTL
changes. ``users_first_seen`` (one row per shopper, to tell new from returning) and the
recommender's tables are kept; ``sink_batches`` keeps its own 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.settings import Settings

# table -> its time column as ClickHouse writes it in a TTL (DateTime64 columns converted)
RAW_TABLES = {"events": "toDateTime(received_at)"}
ROLLUP_TABLES = {"order_items": "toDateTime(event_time)", "kpi_minute": "minute",
                 "product_daily": "day", "coupon_daily": "day", "page_daily": "day",
                 "funnel_live_minute": "minute"}


@dataclass(frozen=True)
class Retention:
    events_days: int = 365
    rollups_days: int = 0

    def __post_init__(self) -> None:
        if self.events_days < 0 or self.rollups_days < 0:
            raise ValueError("retention is a number of days, 0 or more (0: forever)")


def retention_of(settings: Settings) -> Retention:
    return Retention(settings.retention_events_days, settings.retention_rollups_days)


def ttl_expression(column: str, days: int) -> str | None:
    """The TTL clause's expression, spelled as ClickHouse shows it back; None: no TTL."""
    return f"{column} + toIntervalDay({days})" if days else None


def wanted_ttls(retention: Retention) -> dict[str, str | None]:
    """Every managed table's TTL expression (None: none)."""
    out = {table: ttl_expression(column, retention.events_days) for table, column in RAW_TABLES.items()}
    out.update({table: ttl_expression(column, retention.rollups_days)
                for table, column in ROLLUP_TABLES.items()})
    return out


def current_ttl(engine_full: str) -> str | None:
    """The TTL expression in a table's ``system.tables.engine_full`` (None: none)."""
    if " TTL " not in engine_full:
        return None
    return engine_full.split(" TTL ", 1)[1].split(" SETTINGS ", 1)[0].strip()


def retention_statement(table: str, wanted: str | None, current: str | None,
                        on_cluster: str = "") -> str | None:
    """The ALTER that brings ``table`` from ``current`` to ``wanted`` (None: nothing to do)."""
    if wanted == current:
        return None
    if wanted is None:
        return f"ALTER TABLE {table}{on_cluster} REMOVE TTL"
    return f"ALTER TABLE {table}{on_cluster} MODIFY TTL {wanted}"
