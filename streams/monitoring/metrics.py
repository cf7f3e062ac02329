"""Prometheus metrics of the worker, served at ``/metrics``.

Names are part of the operator contract (dashboards and alerts use them).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
# the validation stage's own, served by whichever process runs it (see streams/worker.py)
VALIDATION_REGISTRY = CollectorRegistry(auto_describe=True)
# every stage loop's own: its input lag and its transactions (each process reports its loops)
LAG_REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_IN = Counter(
    "shopstream_events_in_total", "Raw events read by the validation stage", ["topic"],
    registry=VALIDATION_REGISTRY,
)
EVENTS_OUT = Counter(
    "shopstream_events_out_total", "Canonical events and dead letters written by the "
    "validation stage", ["topic"], registry=VALIDATION_REGISTRY,
)
EVENTS_REJECTED = Counter(
    "shopstream_events_rejected_total",
    "Events sent to the dead-letter topic, by the first error code",
    ["code"],
    registry=VALIDATION_REGISTRY,
)
EVENTS_DUPLICATE = Counter(
    "shopstream_events_duplicate_total",
    "Events dropped because their messageId was seen within the dedupe window",
    registry=VALIDATION_REGISTRY,
)
DEDUPE_IDS = Gauge(
    "shopstream_dedupe_ids", "messageIds remembered by the dedupe window",
    registry=VALIDATION_REGISTRY,
)
CONSUMER_LAG = Gauge(
    "shopstream_consumer_lag",
    "Messages not yet read by a stage's consumer group, per owned topic partition (high "
    "watermark - position); a partition that moved to another worker is dropped here",
    ["group", "topic", "partition"],
    registry=LAG_REGISTRY,
)

TRANSACTION_SECONDS = Histogram(
    "shopstream_transaction_commit_seconds",
    "Time a stage's loop spent committing one transaction (what it held back until the "
    "commit, the consumed offsets and the commit itself, retries included), by consumer "
    "group: the cost of each commit interval, during which the loop reads nothing",
    ["group"], buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0),
    registry=LAG_REGISTRY,
)


def forget_lag(group: str, topic: str, partitions: list[int]) -> None:
    """Partitions gone to another worker are reported there: summed over workers (an
    autoscaler's query), the lag counts each partition once."""
    for partition in partitions:
        with suppress(KeyError):  # never reported here
            CONSUMER_LAG.remove(group, topic, str(partition))


VALIDATION_SECONDS = Histogram(
    "shopstream_validation_seconds",
    "Time to validate one raw event (sampled: one event in 16)",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01),
    registry=VALIDATION_REGISTRY,
)


# -- live state (streams/stages/live.py) ---------------------------------------------------
TRIGGERS = Counter(
    "shopstream_triggers_total", "Triggers emitted, by type", ["type"], registry=REGISTRY,
)
LATE_EVENTS = Counter(
    "shopstream_late_events_total", "Cart activity older than the allowed lateness (not merged)",
    registry=REGISTRY,
)
LIVE_REVENUE = Gauge(
    "shopstream_live_revenue", "Order revenue in the last minute or hour (event time)",
    ["tenant", "window"], registry=REGISTRY,
)
LIVE_ORDERS = Gauge(
    "shopstream_live_orders", "Orders in the last minute or hour (event time)",
    ["tenant", "window"], registry=REGISTRY,
)
LIVE_ACTIVE_USERS = Gauge(
    "shopstream_live_active_users", "Shoppers seen in the last 5 minutes (event time)",
    ["tenant"], registry=REGISTRY,
)
LIVE_OPEN_CARTS = Gauge(
    "shopstream_live_open_carts", "Carts with items and no checkout yet", ["tenant"],
    registry=REGISTRY,
)
LIVE_EVENT_LAG = Gauge(
    "shopstream_live_event_seconds", "Produce-to-live-update: wall clock minus the event's "
    "receivedAt, at the live agent", registry=REGISTRY,
)
LIVE_TICKS = Counter(
    "shopstream_live_ticks_total", "Partition ticks of the live stage (time passing: due deadlines)",
    registry=REGISTRY,
)
LIVE_EVENTS = Counter(
    "shopstream_live_events_total", "Canonical events processed by the live agent",
    registry=REGISTRY,
)
LIVE_REPLAYED = Counter(
    "shopstream_live_replayed_total", "Events redelivered after a restart whose effects were "
    "already in the live state (skipped)", registry=REGISTRY,
)
LIVE_DEAD_LETTERS = Counter(
    "shopstream_live_dead_letters_total", "Records on shop.events that are not canonical events, "
    "sent to the dead-letter topic by the live stage", registry=REGISTRY,
)


class BatchedCounts:
    """Counter increments gathered in plain numbers and added at once (:meth:`flush`, at a
    stage's commit): a Prometheus counter's ``inc`` takes a lock, and per event that cost a
    stage about a tenth of its time."""

    def __init__(self) -> None:
        self._counts: dict[Any, float] = {}

    def add(self, counter: Any, amount: float = 1.0) -> None:
        self._counts[counter] = self._counts.get(counter, 0.0) + amount

    def flush(self) -> None:
        counts, self._counts = self._counts, {}
        for counter, amount in counts.items():
            counter.inc(amount)
