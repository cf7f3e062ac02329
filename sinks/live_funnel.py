"""Snapshots of the live funnel's one-minute windows in ClickHouse (``funnel_live_minute``,
summed over partitions by the ``funnel_live`` view). Each snapshot writes the windows
that changed since the last one; a window written again replaces its older row."""

from __future__ import annotations

from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from streams.live.funnel import Funnel

COLUMNS = ["tenant", "minute", "utm_source", "partition", "visit", "product_view", "add_to_cart",
           "checkout", "purchase", "snapshot_at"]
Key = tuple[int, tuple[str, str, int]]


def take_dirty(funnels: dict[int, Funnel]) -> list[Key]:
    """The changed windows (partition, window key), marking them clean."""
    keys = [(partition, key) for partition, funnel in funnels.items() for key in funnel.dirty]
    for funnel in funnels.values():
        funnel.dirty.clear()
    return keys


def snapshot_rows(funnels: dict[int, Funnel], keys: list[Key], at: datetime) -> list[list]:
    rows = []
    for partition, (tenant, source, window) in keys:
        counts = funnels[partition].windows.get((tenant, source, window)) if partition in funnels else None
        if counts is None:
            continue
        rows.append([tenant, datetime.fromtimestamp(window / 1000, tz=UTC), source, partition,
                     *counts, at])
    return rows


def write_snapshot(client: Client, rows: list[list]) -> int:
    if rows:
        client.insert("funnel_live_minute", rows, column_names=COLUMNS)
    return len(rows)
