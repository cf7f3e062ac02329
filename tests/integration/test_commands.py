"""The command-line front door against the real broker: produce, simulate, broker, demo."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient

from deploy.local.broker import free_port
from models.validation import Rules, validate_bytes
from streams.monitoring.scrape import fetch_metrics, total
from tests.support import REPO, count, read_topic, wait_for, wait_until_equal

pytestmark = pytest.mark.integration
SAMPLE = REPO / "tests" / "data" / "rees46-head.csv"


def shopstream(*args: str, env: dict[str, str], timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], env={**os.environ, **env},
                          capture_output=True, timeout=timeout, cwd=REPO, **kw)


def test_produce_rees46_sample_then_validate(settings, worker_factory, kafka, tmp_path):
    head = tmp_path / "head.csv"
    head.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:501]))
    worker = worker_factory().start()
    env = {"KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix}
    done = shopstream("produce", "--format", "rees46", str(head), env=env)
    assert done.returncode == 0, done.stderr
    assert b"sent 500 events" in done.stderr and b"500 delivered, 0 failed" in done.stderr
    zero_price_rows = sum(1 for line in head.read_text().splitlines()[1:]
                          if float(line.split(",")[6]) <= 0)
    wait_for(lambda: worker.metric("shopstream_events_in_total") == 500, 60, "500 rows read")
    wait_for(lambda: count(kafka, settings.topics.events) == 500 - zero_price_rows, 30, "events")
    assert count(kafka, settings.topics.dlq) == zero_price_rows

    # producing the same file again changes nothing downstream: messageIds are per row
    assert shopstream("produce", "--format", "rees46", str(head), env=env).returncode == 0
    wait_for(lambda: worker.metric("shopstream_events_duplicate_total") == 500 - zero_price_rows,
             60, "the second copy to be recognised as duplicates")
    assert count(kafka, settings.topics.events) == 500 - zero_price_rows


def test_simulate_to_kafka_and_to_file(settings, worker_factory, kafka, tmp_path):
    worker = worker_factory().start()
    env = {"KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix}
    args = ["--count", "600", "--seed", "9", "--start", "2026-03-01T00:00:00Z"]
    out = tmp_path / "sim.jsonl"
    to_file = shopstream("simulate", *args, "--out", str(out), env=env)
    assert to_file.returncode == 0, to_file.stderr
    summary = re.search(rb"simulated (\d+) events \(duplicate: (\d+), malformed: (\d+)",
                        to_file.stderr)
    total, duplicates, malformed = map(int, summary.groups())
    assert len(out.read_bytes().splitlines()) == total

    to_kafka = shopstream("simulate", *args, "--fast", env=env)
    assert to_kafka.returncode == 0, to_kafka.stderr
    wait_for(lambda: worker.metric("shopstream_events_in_total") == total, 60, "all read")
    wait_for(lambda: count(kafka, settings.topics.events) == total - duplicates - malformed
             and count(kafka, settings.topics.dlq) == malformed, 30, "outputs")
    # the Kafka run and the file hold the same events
    checked = [validate_bytes(line, Rules(), datetime.now(UTC))
               for line in out.read_bytes().splitlines()]
    from_file = {r.event.messageId for r in checked if r.ok}
    from_kafka = [orjson.loads(r.value)["messageId"]
                  for r in read_topic(kafka, settings.topics.events)]
    assert sorted(from_kafka) == sorted(from_file)


def test_broker_command_starts_and_stops_a_local_broker(tmp_path):
    env = {"SHOPSTREAM_DATA_DIR": str(tmp_path / "d"), "KAFKA_BOOTSTRAP": ""}
    started = shopstream("broker", "start", env=env)
    assert started.returncode == 0, started.stderr
    bootstrap = orjson.loads(started.stdout)["bootstrap"]
    try:
        status = shopstream("broker", "status", env=env)
        assert status.returncode == 0 and bootstrap.encode() in status.stdout
        from confluent_kafka.admin import AdminClient

        assert AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
    finally:
        stopped = shopstream("broker", "stop", env=env)
    assert stopped.returncode == 0 and b"stopped" in stopped.stdout
    after = shopstream("broker", "status", env=env)
    assert after.returncode == 1 and b"not running" in after.stdout


def test_worker_without_broker_says_how_to_get_one(tmp_path):
    done = shopstream("worker", env={"KAFKA_BOOTSTRAP": "", "SHOPSTREAM_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and b"KAFKA_BOOTSTRAP" in done.stderr


def test_demo_runs_and_reports_flow(kafka, prefix, tmp_path):
    env = {"KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": prefix,
           "SHOPSTREAM_DATA_DIR": str(tmp_path / "demo"), "SHOPSTREAM_WEB_PORT": str(free_port()),
           "CART_ABANDON_AFTER": "3s"}
    done = shopstream("demo", "--duration", "20", "--rate", "60", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    line = re.search(rb"demo summary: (\d+) raw events in, (\d+) canonical, (\d+) dead letters, "
                     rb"(\d+) duplicates dropped, (\d+) rows in ClickHouse, (\d+) triggers",
                     done.stderr)
    assert line, done.stderr[-3000:]
    raw, canonical, dead, dups, stored, fired = map(int, line.groups())
    assert raw > 300 and canonical > 250 and dead > 0
    # the figures add up, and the summary waited for the sink's last batch
    assert raw == canonical + dead + dups and stored == canonical
    assert fired > 0 and b"dashboard" in done.stderr
    # the triggers are on their topic, and the example consumer prints them
    tail = shopstream("triggers", "tail", "cart_abandoned", "--from-beginning", "--max", "1",
                      "--idle-timeout", "20", env=env)
    assert tail.returncode == 0, tail.stderr[-2000:]
    assert orjson.loads(tail.stdout.splitlines()[0])["event"] == "Cart Abandoned"
    assert Path(tmp_path / "demo" / "worker.log").exists()


def test_ctrl_c_stops_the_demo_after_the_worker_wrote_what_it_holds(kafka, prefix, tmp_path):
    """Ctrl-C in a terminal signals the whole foreground process group: the worker must not
    stop under the demo's feet, so that the summary's figures are the final ones."""
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": prefix,
           "SHOPSTREAM_DATA_DIR": str(tmp_path / "demo"), "SHOPSTREAM_WEB_PORT": str(port)}
    output = tmp_path / "demo.out"
    with open(output, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "demo", "--rate", "80"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)  # a group of its own, as in a terminal
    try:
        metrics = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: total(fetch_metrics(metrics), "shopstream_sink_rows_total") > 200, 120,
                 "the demo's worker to write 200 rows")
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C does: the demo and all it started
        demo.wait(120)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    said = output.read_bytes()
    line = re.search(rb"demo summary: (\d+) raw events in, (\d+) canonical, (\d+) dead letters, "
                     rb"(\d+) duplicates dropped, (\d+) rows in ClickHouse([^,]*), (\d+) triggers", said)
    assert line, said[-3000:]
    assert line.group(6) == b"", line.group(0)  # nothing "not yet written"
    assert int(line.group(5)) == int(line.group(2)) > 200, line.group(0)


def test_ctrl_c_stops_a_worker_cleanly_with_its_validation_process(kafka, prefix, tmp_path):
    """Ctrl-C reaches every process of the terminal's group: the worker's validation process
    must be stopped by the worker (in order, after its commit), not die on its own first."""
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": prefix,
           "SHOPSTREAM_DATA_DIR": str(tmp_path / "w"), "SHOPSTREAM_WEB_PORT": str(port),
           "SHOPSTREAM_WORKER_PROCESSES": "2"}  # a validation process, on any machine
    output = tmp_path / "worker.out"
    with open(output, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                  start_new_session=True)  # a group of its own, as in a terminal
    try:
        raw = f"{prefix}shop.events.raw:"

        def validating() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                health = json.loads(answer.read())
            return any(p.startswith(raw) for p in health["assigned_partitions"])

        seen: list[tuple[int, dict]] = []

        def ready() -> tuple[int, dict]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                    seen.append((answer.status, json.loads(answer.read())))
            except urllib.error.HTTPError as exc:  # 503 with what it waits for
                seen.append((exc.code, json.loads(exc.read())))
            return seen[-1]

        wait_until_equal(ready, (200, {"ready": True, "waiting_for": {}}), 120,
                         "the worker's /ready to answer 200")
        assert all(status == 503 and body["waiting_for"] for status, body in seen[:-1]), seen
        assert validating()  # ready: its validation process owns the raw topic's partitions
        os.killpg(worker.pid, signal.SIGINT)  # what Ctrl-C does
        code = worker.wait(120)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    said = output.read_text(errors="replace")
    assert code == 0 and "died" not in said, said[-3000:]


def test_produce_before_any_worker_makes_the_topics_with_the_configured_partitions(
        kafka, prefix, tmp_path):
    """Not the broker's own count for a topic created by its first write (3 here)."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(track_event(f"u{i}")) + b"\n" for i in range(3)))
    env = {"KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": prefix,
           "SHOPSTREAM_TOPIC_PARTITIONS": "5"}
    done = shopstream("produce", str(events), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    topics = AdminClient({"bootstrap.servers": kafka}).list_topics(timeout=30).topics
    assert len(topics[f"{prefix}shop.events.raw"].partitions) == 5
    assert count(kafka, f"{prefix}shop.events.raw") == 3


@pytest.mark.parametrize("command", [["produce", "EVENTS"],
                                     ["keys", "create", "--tenant", "acme", "--role", "write"]])
def test_a_command_on_a_broker_that_does_not_answer_says_so_and_stops(command, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(track_event("u1")) + b"\n")
    argv = [str(events) if arg == "EVENTS" else arg for arg in command]
    done = shopstream(*argv, "--bootstrap", "127.0.0.1:1", env={}, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    said = done.stderr.strip().splitlines()  # one line: the client's own logs are quiet
    assert len(said) == 1 and said[0].startswith(
        f"shopstream {command[0]}: the Kafka broker at 127.0.0.1:1 did not answer within 10 s "
        "(".encode()) and said[0].endswith(b"is it running? (`shopstream broker status`)"), said


def track_event(user: str) -> dict:
    return {"type": "track", "event": "Product Viewed", "userId": user,
            "properties": {"product_id": "p1"}}


def test_the_raw_topic_stamps_records_with_the_brokers_time(kafka, prefix):
    """The dedupe window and receivedAt read the raw records' timestamps: the broker's time
    of append, not what a producer sets (a clock a year ahead, a backfill stamped with its
    events' times would move the window and turn deduplication off)."""
    import time

    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer
    from confluent_kafka.admin import ConfigResource

    from models.settings import load_settings
    from streams.kafka.admin import ensure_topics

    settings = load_settings(topic_prefix=prefix)
    ensure_topics(settings, kafka)
    raw = settings.topics.raw
    resource = ConfigResource(ConfigResource.Type.TOPIC, raw)
    admin = AdminClient({"bootstrap.servers": kafka})  # (held while its future is read)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["message.timestamp.type"].value == "LogAppendTime"
    producer = Producer({"bootstrap.servers": kafka})
    a_year_ahead = int(time.time() * 1000) + 365 * 86_400_000
    producer.produce(raw, b'{"type": "track"}', partition=0, timestamp=a_year_ahead)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"{prefix}ts",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([raw])
    try:
        message = wait_for(lambda: next(iter(consumer.consume(1, 1.0)), None), 60,
                           "the record back from the raw topic")
    finally:
        consumer.close()
    kind, stamped = message.timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME
    assert abs(stamped - time.time() * 1000) < 300_000, stamped
