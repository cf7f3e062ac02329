"""Exchange rates on the real broker: ``shopstream fx load`` (the command itself) writes the
compacted rates topic and ClickHouse; the worker's live stage follows the topic, and /live
gives revenue in the reporting currency, the amount without a rate apart.

Rates (USD per unit; USD is the base), dated 2020-01-01 so they hold today: EUR 1.10,
GBP 1.25. Orders now: 10.00 EUR -> 11.00; 20.00 GBP -> 25.00; 5.55 USD kept;
1500 JPY (no rate): apart. Revenue of the hour: 11.00 + 25.00 + 5.55 = 41.55 USD.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from models.currency import FxRate
from streams.sdk.tracker import Tracker
from tests.support import REPO, read_topic, wait_until_equal

pytestmark = pytest.mark.integration
RATES = "date,currency,rate\n2020-01-01,EUR,1.10\n2020-01-01,GBP,1.25\n"


def fx(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix,
           "SHOPSTREAM_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "fx", *args], env=env,
                          cwd=REPO, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done


def load(settings, tmp_path: Path, text: str = RATES) -> str:
    path = tmp_path / "rates.csv"
    path.write_text(text)
    return fx(settings, "load", str(path)).stderr.decode()


def rates_on_topic(settings) -> dict[bytes, FxRate | None]:
    latest: dict[bytes, FxRate | None] = {}
    for record in read_topic(settings.kafka_bootstrap, settings.topics.fx_rates):
        latest[record.key] = None if record.value is None else FxRate.from_json(record.value)
    return latest


def test_fx_load_writes_the_compacted_topic_and_clickhouse(settings, tmp_path):
    said = load(settings, tmp_path)
    assert "loaded 2 rate(s) of 2 currencies (EUR, GBP)" in said
    assert settings.topics.fx_rates in said
    topic = settings.topics.fx_rates
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})  # held until answered
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"
    assert rates_on_topic(settings) == {
        b"2020-01-01|EUR": FxRate(datetime(2020, 1, 1).date(), "EUR", D("1.10")),
        b"2020-01-01|GBP": FxRate(datetime(2020, 1, 1).date(), "GBP", D("1.25"))}
    # a corrected file: the same key again, the latest record wins (and compaction keeps it)
    load(settings, tmp_path, "date,currency,rate\n2020-01-01,EUR,1.12\n")
    assert rates_on_topic(settings)[b"2020-01-01|EUR"] == FxRate(
        datetime(2020, 1, 1).date(), "EUR", D("1.12"))
    listed = json.loads(fx(settings, "list", "--format", "json").stdout)
    assert [(r["currency"], D(str(r["rate"]))) for r in listed] == [
        ("EUR", D("1.12")), ("GBP", D("1.25"))]


def live(worker) -> dict:
    with urllib.request.urlopen(f"{worker.base_url}/live", timeout=30) as response:
        return json.loads(response.read(), parse_float=D)


def test_live_revenue_in_the_reporting_currency(settings, worker_factory, tmp_path):
    load(settings, tmp_path)  # before the worker: it owns the embedded ClickHouse once started
    worker = worker_factory().start()
    now = datetime.now(UTC)
    with Tracker(settings.kafka_bootstrap, settings.topics.raw) as tracker:
        for user, total, currency in (("alice", "10.00", "EUR"), ("bob", "20.00", "GBP"),
                                      ("carol", "5.55", "USD"), ("dave", "1500", "JPY")):
            tracker.order_completed(user, {
                "order_id": f"o-{user}", "total": total, "currency": currency,
                "products": [{"product_id": "p1", "price": total, "quantity": 1}]}, timestamp=now)
        tracker.flush()

    def figures() -> tuple:
        body = live(worker)
        return (body["currency"], body["orders_last_hour"], body["revenue_last_hour"],
                body["unconverted_last_hour"])

    wait_until_equal(figures, ("USD", 4, D("41.55"), {"JPY": 1500}), 120,
                     "the live figures of the four orders")
