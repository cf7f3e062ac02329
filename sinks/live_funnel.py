"""Snapshots of the live funnel's one-minute windows in ClickHouse (``funnel_live_minute``,
summed over partitions by the ``funnel_live`` view). Each snapshot writes the windows
that changed since the last one; a window written again replaces its older row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from clickhouse_connect.driver.client import Client

from models.times import ms_to_datetime

COLUMNS = ["tenant", "minute", "utm_source", "partition", "visit", "product_view", "add_to_cart",
           "checkout", "purchase", "snapshot_at"]
# (partition, tenant, utm source, window start in ms, stage counts)
Window = tuple[int, str, str, int, Sequence[int]]


def snapshot_rows(windows: Iterable[Window], at: datetime) -> list[list[object]]:
    return [[tenant, ms_to_datetime(window), source, partition, *counts, at]
            for partition, tenant, source, window, counts in windows]


def write_snapshot(client: Client, rows: list[list[object]]) -> int:
    if rows:
        client.insert("funnel_live_minute", rows, column_names=COLUMNS)
    return len(rows)
