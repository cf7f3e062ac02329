"""``ingest`` against what ClickHouse already holds, on the real engine: a file that
overlaps an earlier one, or the same file again, adds only what is new, so the rollups
(which count at insert, before the tables' merges drop copies) agree with the raw rows; a
run that failed between the events and their order lines is completed, not doubled."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import orjson

from models.serde import dumps
from models.validation import Rules, validate_bytes
from sinks.rows import rows_for
from sinks.writer import EVENTS, Batch, ClickHouseWriter
from streams.sources.ingest import ingest
from streams.sources.simulator import SimConfig, simulate

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def lines(n: int) -> list[bytes]:
    config = SimConfig(seed=11, rate=5.0, malformed=0.0, duplicates=0.0,
                       start=datetime(2026, 3, 1, tzinfo=UTC))
    return [dumps(e.value) for e in itertools.islice(simulate(config), n)]


def write(path, some: list[bytes]):
    path.write_bytes(b"\n".join(some) + b"\n")
    return path


def figures(client) -> tuple[int, int, int, int]:
    """(rows in events, distinct events, orders in kpi_minute, order lines in product_daily)"""
    rows, distinct = client.query("SELECT count(), uniqExact(tenant, event_id) FROM events").result_rows[0]
    orders = client.query("SELECT sum(orders) FROM kpi_minute").result_rows[0][0]
    units = client.query("SELECT sum(purchases) FROM product_daily").result_rows[0][0]
    return int(rows), int(distinct), int(orders), int(units)


def expected(some: list[bytes]) -> tuple[int, int]:
    """(events, completed orders) of the lines, worked out from the contract alone."""
    events = [r.canonical for r in (validate_bytes(line, Rules(), NOW) for line in some)
              if r.canonical is not None]
    return len(events), sum(1 for e in events if e.get("event") == "Order Completed")


def test_an_overlapping_file_and_the_same_file_again_add_only_what_is_new(clickhouse, tmp_path):
    all_lines = lines(3_000)
    first = write(tmp_path / "first.jsonl", all_lines[:2_000])
    more = write(tmp_path / "more.jsonl", all_lines)  # the same 2,000 lines and 1,000 more
    writer, dead = ClickHouseWriter(clickhouse), tmp_path / "dead.jsonl"

    one = ingest(first, "jsonl", writer, Rules(), dead, batch_rows=500, now=lambda: NOW)
    two = ingest(more, "jsonl", writer, Rules(), dead, batch_rows=500, now=lambda: NOW)
    three = ingest(first, "jsonl", writer, Rules(), dead, batch_rows=700, now=lambda: NOW)

    events, orders = expected(all_lines)
    assert orders > 20, "the simulated shop must have orders to count"
    assert (one.stored, two.stored, three.stored) == (0, one.events, one.events)
    rows, distinct, rollup_orders, _ = figures(clickhouse)
    assert (rows, distinct, rollup_orders) == (events, events, orders)


def test_a_run_that_wrote_events_without_their_lines_is_completed(clickhouse, tmp_path):
    orders_only = [line for line in lines(3_000) if b'"Order Completed"' in line][:30]
    source = write(tmp_path / "orders.jsonl", orders_only)
    writer = ClickHouseWriter(clickhouse)
    # what a run that failed after the events insert left: the events, none of their lines
    partial = Batch("an earlier run")
    for line in orders_only:
        row, _items = rows_for(orjson.loads(dumps(validate_bytes(line, Rules(), NOW).canonical)))
        partial.events.append(row)
    writer._insert(EVENTS.table, EVENTS.columns, partial.events, partial.token)

    summary = ingest(source, "jsonl", writer, Rules(), tmp_path / "dead.jsonl", now=lambda: NOW)
    assert summary.stored == len(orders_only)
    lines_in_file = sum(len(orjson.loads(line)["properties"]["products"]) for line in orders_only)
    stored_lines = clickhouse.query("SELECT count() FROM order_items").result_rows[0][0]
    assert stored_lines == lines_in_file
    assert figures(clickhouse)[:3] == (len(orders_only), len(orders_only), len(orders_only))


def test_ingest_with_a_broker_no_shopstream_process_used_yet(kafka, prefix, clickhouse,
                                                             tmp_path, monkeypatch):
    """A new analyst's first `shopstream ingest` with KAFKA_BOOTSTRAP set, on a topic prefix
    nothing has used: the erasure topic is made (nobody was erased) and the file goes in. It
    waited 30 s and failed with UNKNOWN_TOPIC_OR_PART before."""
    from confluent_kafka.admin import AdminClient

    from models.settings import load_settings
    from streams.privacy.suppression import followed_for_backfill

    settings = load_settings(kafka_bootstrap=kafka, topic_prefix=prefix,
                             data_dir=tmp_path / "data")
    assert settings.topics.erased not in AdminClient(
        {"bootstrap.servers": kafka}).list_topics(timeout=10).topics
    erased = followed_for_backfill(settings, clickhouse, timeout=20)
    assert erased is not None
    assert not erased({"tenant": "default", "userId": "u1"})
    summary = ingest(write(tmp_path / "a.jsonl", lines(50)), "jsonl", ClickHouseWriter(clickhouse),
                     Rules(), tmp_path / "dead.jsonl", now=lambda: NOW, erased=erased)
    assert summary.events == 50
