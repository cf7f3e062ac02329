"""Prometheus metrics of the ClickHouse sink (their own registry; the worker's ``/metrics``
serves it beside the stream stages' registry). Names are part of the operator contract."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SINK_ROWS = Counter(
    "shopstream_sink_rows_total", "Rows written to ClickHouse by the sink", ["table"],
    registry=REGISTRY,
)
SINK_BATCH_ROWS = Histogram(
    "shopstream_sink_batch_rows", "Events per batch written by the sink",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000), registry=REGISTRY,
)
SINK_INSERT_SECONDS = Histogram(
    "shopstream_sink_insert_seconds", "Time to insert one batch into ClickHouse",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY,
)
SINK_RETRIES = Counter(
    "shopstream_sink_retries_total", "Failed ClickHouse writes (each is retried)",
    registry=REGISTRY,
)
SINK_BLOCKED = Gauge(
    "shopstream_sink_blocked", "1 while the sink is paused waiting for ClickHouse",
    registry=REGISTRY,
)
SINK_LAG = Gauge(
    "shopstream_sink_lag", "Canonical events not yet in ClickHouse, per partition",
    ["partition"], registry=REGISTRY,
)
SINK_TOPIC_LAG = Gauge(
    "shopstream_sink_topic_lag", "Records of the trigger and dead-letter topics not yet in "
    "ClickHouse, per topic and partition", ["topic", "partition"], registry=REGISTRY,
)
SINK_DEAD_LETTERS = Counter(
    "shopstream_sink_dead_letters_total", "Records on shop.events the sink could not write "
    "(not a canonical event, or refused by ClickHouse for good), sent to the dead-letter topic",
    registry=REGISTRY,
)
SINK_DROPPED = Counter(
    "shopstream_sink_dropped_total", "Records the sink left out on purpose, by the table of "
    "their first row (the events of erased people: the suppression list)", ["table"],
    registry=REGISTRY,
)
