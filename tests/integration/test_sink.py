"""The ClickHouse sink on a real broker and the real engine, worker as a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from models.serde import event_to_json
from models.validation import Rules, validate_bytes
from sinks.rows import rows_for
from streams.sdk.tracker import Tracker
from streams.sources.files import jsonl_records
from streams.sources.simulator import SimConfig, simulate
from tests.support import REPO, count, wait_for, wait_until_equal

pytestmark = pytest.mark.integration

COLUMNS = ("tenant, event_id, type, event, event_time, user_id, anonymous_id, user_key, "
           "session_id, product_id, cart_id, order_id, revenue, value, discount, currency, "
           "quantity, price, category, brand, coupon, utm_source, utm_medium, utm_campaign, "
           "page_url, page_path, referrer, properties, context")
DUMPS = {
    "events": f"SELECT {COLUMNS} FROM events ORDER BY event_id",
    "order_items": "SELECT * FROM order_items ORDER BY event_id, line",
    "kpi_daily": "SELECT * FROM kpi_daily ORDER BY tenant, bucket",
    "product_daily": "SELECT tenant, day, product_id, sum(views), sum(adds), sum(removes), "
                     "sum(purchases), sum(units), sum(revenue) FROM product_daily "
                     "GROUP BY tenant, day, product_id ORDER BY tenant, day, product_id",
    "funnel_daily": "SELECT * FROM funnel_daily ORDER BY tenant, day",
}


def sim_lines(n: int, seed: int) -> list[bytes]:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    return [e.to_bytes() for e in simulate(SimConfig(seed=seed, rate=20, start=start), n)]


def expected(lines: list[bytes]) -> tuple[int, int]:
    """(canonical events, order item rows) after validation and messageId dedupe."""
    seen, items = set(), 0
    for line in lines:
        result = validate_bytes(line, Rules(), datetime.now(UTC))
        if result.ok and result.event.messageId not in seen:
            seen.add(result.event.messageId)
            items += len(rows_for(event_to_json(result.event))[1])
    return len(seen), items


def produce(kafka: str, topic: str, lines: list[bytes]) -> None:
    """As ``shopstream produce`` does: keyed by userId, anonymousId or a flat user_id."""
    with Tracker(kafka, topic) as tracker:
        for _number, key, value in jsonl_records(io.BytesIO(b"\n".join(lines)), 1 << 20):
            tracker.send_raw(value, key)
        tracker.flush()


def rows_count(worker, table: str = "events") -> int | None:
    rows = worker.sql_or_none(f"SELECT count() AS n FROM {table}")
    return None if rows is None else rows[0]["n"]


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SHOPSTREAM_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, timeout=300)


def test_kafka_and_ingest_give_identical_tables(settings, worker_factory, kafka, tmp_path):
    lines = sim_lines(2500, seed=21)
    n_events, n_items = expected(lines)
    source = tmp_path / "traffic.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    worker = worker_factory().start()
    produce(kafka, settings.topics.raw, lines)
    # a batch's tables are separate inserts (events first): wait for both
    wait_until_equal(lambda: (rows_count(worker), rows_count(worker, "order_items")),
                     (n_events, n_items), 90, "(events, order items) in ClickHouse")
    through_kafka = {name: worker.sql(query) for name, query in DUMPS.items()}

    # analysts' commands reach the worker's ClickHouse through its HTTP endpoint
    report = cli("report", "kpis", "--tenant", "default", "--format", "json",
                 data_dir=worker.data_dir)
    assert report.returncode == 0, report.stderr
    assert sum(r["orders"] for r in json.loads(report.stdout)) == sum(
        r["orders"] for r in through_kafka["kpi_daily"])
    refused = cli("ingest", str(source), data_dir=worker.data_dir)
    assert refused.returncode == 2 and b"owns the embedded ClickHouse" in refused.stderr
    worker.stop()

    other = tmp_path / "ingested"
    done = cli("ingest", str(source), data_dir=other)
    assert done.returncode == 1  # the traffic has malformed lines: they are dead letters
    assert f"ingested {n_events} events ({n_items} order items)".encode() in done.stderr
    dead = [json.loads(line) for line in (other / "dead-letters" / "traffic.jsonl").read_bytes()
            .splitlines()]
    malformed = sum(1 for line in lines if not validate_bytes(line, Rules(), datetime.now(UTC)).ok)
    assert len(dead) == malformed and all(d["reasons"] for d in dead)
    for name, query in DUMPS.items():
        dumped = cli("sql", query, "--format", "json", data_dir=other)
        assert dumped.returncode == 0, dumped.stderr
        assert json.loads(dumped.stdout) == through_kafka[name], name


def test_sigkill_mid_stream_then_restart_is_exact(settings, worker_factory, kafka):
    lines = sim_lines(24_000, seed=5)
    n_events, n_items = expected(lines)
    produce(kafka, settings.topics.raw, lines)
    worker = worker_factory(SHOPSTREAM_SINK_BATCH_ROWS="400").start()
    at_kill = wait_for(lambda: (rows_count(worker) or 0) >= 2000 and rows_count(worker), 120,
                       "the sink to be part-way")
    worker.kill()
    assert at_kill < n_events, "the worker finished before it could be killed mid-stream"

    worker.start()
    try:
        # a batch's tables are separate inserts (events first): wait for both
        wait_until_equal(lambda: (rows_count(worker), rows_count(worker, "order_items")),
                         (n_events, n_items), 180,
                         f"all {n_events} events and {n_items} order items after restart")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.diagnosis()}") from None
    figures = worker.sql("SELECT count() AS n, uniqExact(event_id) AS ids FROM events")[0]
    assert figures == {"n": n_events, "ids": n_events}
    assert worker.sql("SELECT sum(event_count) AS n FROM kpi_minute")[0]["n"] == n_events
    assert worker.sql("SELECT sum(purchases) AS n FROM product_daily")[0]["n"] == worker.sql(
        "SELECT count() AS n FROM order_items WHERE sign > 0")[0]["n"]


def test_clickhouse_unavailable_for_a_while_loses_nothing(settings, worker_factory, kafka,
                                                          tmp_path):
    """Another process holds the embedded ClickHouse (chDB allows one owner): the sink
    waits, paused, while validation goes on; once released, every event lands once."""
    lines = sim_lines(3000, seed=8)
    n_events, _ = expected(lines)
    worker = worker_factory()
    chdb_path = worker.data_dir / "clickhouse"
    chdb_path.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, clickhouse_connect; c = clickhouse_connect."
         f"get_client(dsn='chdb://{chdb_path}'); c.query('SELECT 1'); print('held', flush=True);"
         " sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        worker.start()
        produce(kafka, settings.topics.raw, lines)
        wait_for(lambda: count(kafka, settings.topics.events) == n_events, 60,
                 "validation to go on without ClickHouse")
        wait_for(lambda: worker.metric("shopstream_sink_blocked") == 1, 30, "the sink to wait")
        assert worker.metric("shopstream_sink_retries_total") > 0
        assert rows_count(worker) is None  # analysts get an error, not a wrong answer
    finally:
        holder.stdin.close()
        holder.wait(30)
    wait_for(lambda: rows_count(worker) == n_events, 120, "every event after ClickHouse is back")
    assert worker.sql("SELECT uniqExact(event_id) AS n FROM events")[0]["n"] == n_events
    assert worker.metric("shopstream_sink_blocked") == 0
