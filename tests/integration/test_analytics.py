"""The experiments report on the real ClickHouse engine, against scipy on the planted
shoppers; scheduled exports of a report, announced to a loopback receiver."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from scipy.stats import chi2_contingency, chisquare, ttest_ind
from scipy.stats.contingency import relative_risk

from models.ecommerce import EventName
from models.money import round_cents
from models.settings import load_settings
from models.validation import Rules
from sinks.reports import ReportParams, Table, run_report
from sinks.stats.ab_tests import ExperimentRules
from sinks.writer import ClickHouseWriter
from streams.cli.schedule_plan import Schedule, announced_marker
from streams.cli.schedules import run_due
from streams.sources.ingest import ingest

START = datetime(2026, 3, 1, 10, tzinfo=UTC)


def event(n: int, user: str, at: datetime, name: EventName, props: dict) -> dict:
    return {"type": "track", "event": str(name), "userId": user, "messageId": f"x{n}",
            "timestamp": at.isoformat(), "properties": props}


def plant() -> tuple[list[dict], dict[str, dict[str, list[tuple[bool, float]]]]]:
    """Events, and per experiment and variant each exposed shopper's (converted, revenue)
    worked out here in Python, as the report must find them."""
    events: list[dict] = []
    truth: dict[str, dict[str, list[tuple[bool, float]]]] = {}

    def add(name: EventName, user: str, at: datetime, props: dict) -> None:
        events.append(event(len(events), user, at, name, props))

    def buy(user: str, at: datetime, total: int) -> None:
        add(EventName.ORDER_COMPLETED, user, at, {
            "order_id": f"o{len(events)}", "total": str(total), "currency": "USD",
            "products": [{"product_id": "p1", "price": str(total), "quantity": 1}]})

    # checkout-button: 300 shoppers each; green converts more (every 4th against every 10th)
    for i in range(600):
        user, variant = f"u{i}", ("control" if i % 2 == 0 else "green")
        seen = START + timedelta(seconds=i)
        add(EventName.EXPERIMENT_VIEWED, user, seen,
            {"experiment_id": "checkout-button", "variation_id": variant})
        if i % 50 == 1:  # seen again in the other variant: the first exposure counts
            add(EventName.EXPERIMENT_VIEWED, user, seen + timedelta(hours=1),
                {"experiment_id": "checkout-button", "variation_id": "control"})
        if i % 10 == 4:  # an order before the exposure is not the experiment's
            buy(user, seen - timedelta(minutes=5), 99)
        converts = (i // 2) % (10 if variant == "control" else 4) == 0
        revenue = 0.0
        if converts:
            total = 20 + (i % 13) * 5
            buy(user, seen + timedelta(minutes=3), total)
            revenue += total
            if i % 3 == 0:  # a second order adds revenue, not a conversion
                buy(user, seen + timedelta(hours=2), 15)
                revenue += 15
        truth.setdefault("checkout-button", {}).setdefault(variant, []).append((converts, revenue))
    # hero-banner: a broken 200 / 300 split
    for i in range(500):
        user, variant = f"h{i}", ("a" if i < 200 else "b")
        add(EventName.EXPERIMENT_VIEWED, user, START + timedelta(seconds=i),
            {"experiment_id": "hero-banner", "variation_id": variant})
        truth.setdefault("hero-banner", {}).setdefault(variant, []).append((False, 0.0))
    return events, truth


@pytest.fixture
def planted(clickhouse, tmp_path):
    events, truth = plant()
    source = tmp_path / "experiments.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    summary = ingest(source, "jsonl", ClickHouseWriter(clickhouse), Rules(),
                     tmp_path / "dead.jsonl", now=lambda: START + timedelta(days=30))
    assert summary.invalid == 0
    return clickhouse, truth


def experiments(client, **rules) -> dict[tuple[str, str], dict]:
    params = ReportParams(tenant="default", experiment_rules=ExperimentRules(**rules))
    return {(r["experiment_id"], r["variation_id"]): r
            for r in run_report(client, "experiments", params).records()}


def test_experiment_figures_equal_scipy_on_the_planted_shoppers(planted):
    client, truth = planted
    rows = experiments(client)
    assert list(rows) == [("checkout-button", "control"), ("checkout-button", "green"),
                          ("hero-banner", "a"), ("hero-banner", "b")]
    control, green = truth["checkout-button"]["control"], truth["checkout-button"]["green"]
    for name, shoppers in (("control", control), ("green", green)):
        row = rows[("checkout-button", name)]
        assert row["shoppers"] == len(shoppers) == 300
        assert row["conversions"] == sum(c for c, _ in shoppers)
        assert row["revenue"] == Decimal(sum(r for _, r in shoppers))
        assert row["revenue_per_shopper"] == round_cents(row["revenue"] / 300)
    row = rows[("checkout-button", "green")]
    conv_c, conv_g = sum(c for c, _ in control), sum(c for c, _ in green)
    chi2 = chi2_contingency([[conv_g, 300 - conv_g], [conv_c, 300 - conv_c]], correction=False)
    assert row["conversion_p_value"] == pytest.approx(chi2.pvalue)
    risk = relative_risk(conv_g, 300, conv_c, 300)
    interval = risk.confidence_interval(0.95)
    assert (row["conversion_lift"], row["conversion_lift_ci_low"], row["conversion_lift_ci_high"]) \
        == pytest.approx((risk.relative_risk - 1, interval.low - 1, interval.high - 1))
    welch = ttest_ind([r for _, r in green], [r for _, r in control], equal_var=False)
    assert row["revenue_p_value"] == pytest.approx(welch.pvalue)
    assert row["srm_p_value"] == pytest.approx(chisquare([300, 300]).pvalue)
    assert rows[("checkout-button", "control")]["is_control"]
    # significant, but 300 shoppers are short of what a 10% change needs: no winner yet
    assert row["conversion_p_value"] < 0.05
    assert row["decision"].startswith("not enough shoppers yet (300 of ")
    assert not any(r["winner"] for r in rows.values())


def test_a_winner_once_the_sample_suffices(planted):
    client, _ = planted
    rows = experiments(client, mde=1.0)  # 10% -> 20%: 7.849 x (0.09 + 0.16) / 0.1^2 = 196.2
    assert rows[("checkout-button", "green")]["required_shoppers"] == 197
    assert rows[("checkout-button", "green")]["decision"] == "better than control"
    assert [k for k, r in rows.items() if r["winner"]] == [("checkout-button", "green")]


def test_a_skewed_split_is_flagged(planted):
    client, _ = planted
    rows = experiments(client, mde=1.0)
    b = rows[("hero-banner", "b")]
    assert b["srm_p_value"] == pytest.approx(chisquare([200, 300]).pvalue)
    assert b["srm_p_value"] < 0.001
    assert b["decision"] == "sample ratio mismatch: check the assignment"


def test_the_range_bounds_exposures_and_orders(planted):
    client, _ = planted
    # up to 10:03:30: 210 exposures, and only orders placed by then count
    params = ReportParams(tenant="default", end=START + timedelta(seconds=210))
    rows = {(r["experiment_id"], r["variation_id"]): r
            for r in run_report(client, "experiments", params).records()}
    assert rows[("checkout-button", "control")]["shoppers"] == 105
    assert rows[("checkout-button", "control")]["conversions"] == sum(
        1 for i in range(0, 210, 2) if (i // 2) % 10 == 0 and i + 180 < 210)


class Receiver(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[dict[str, str], bytes]] = []
    fail_first = 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.seen.append((dict(self.headers), body))
        status = 500 if len(Receiver.seen) <= Receiver.fail_first else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class ClickHouseBackend:
    """The query backend ``shopstream`` uses locally, on the test's database."""

    where = "test"

    def __init__(self, client) -> None:
        self.client = client

    def report(self, name: str, params: ReportParams) -> Table:
        return run_report(self.client, name, params)

    def sql(self, query: str) -> Table:
        raise AssertionError("not used")


def test_scheduled_exports_are_written_once_and_announced_signed(planted, tmp_path):
    client, _ = planted
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.seen = []
    try:
        settings = load_settings(data_dir=tmp_path / "data", export_dir=tmp_path / "exports",
                                 export_webhook_url=f"http://127.0.0.1:{server.server_port}/x",
                                 export_webhook_secret="s3cret")
        schedules = [Schedule("kpis", "daily", "json"), Schedule("experiments", "weekly", "csv")]
        now = datetime(2026, 3, 4, 8, tzinfo=UTC)  # a Wednesday: last week holds 03-01
        backend = ClickHouseBackend(client)
        first = run_due(settings, schedules, backend, now)
        daily = tmp_path / "exports" / "kpis-daily" / "kpis-2026-03-03.json"
        weekly = tmp_path / "exports" / "experiments-weekly" / "experiments-2026-02-23.csv"
        assert first.written == [daily, weekly]
        assert orjson.loads(daily.read_bytes()) == []  # nothing happened on 03-03
        lines = weekly.read_text().splitlines()
        assert lines[0].startswith("experiment_id,variation_id,is_control,shoppers,")
        assert len(lines) == 5
        # the receiver failed the first notice: the next pass retries it, writes nothing
        assert len(first.failed) == 1 and "answered 500" in first.failed[0]
        second = run_due(settings, schedules, backend, now)
        assert (second.written, second.failed) == ([], [])
        assert second.announced == [daily]
        assert announced_marker(daily).exists() and announced_marker(weekly).exists()
        assert run_due(settings, schedules, backend, now + timedelta(hours=1)).announced == []
    finally:
        server.shutdown()
    bodies = [(h["Idempotency-Key"], orjson.loads(b)["path"]) for h, b in Receiver.seen]
    assert bodies == [("kpis-daily:2026-03-03", str(daily)),
                      ("experiments-weekly:2026-02-23", str(weekly)),
                      ("kpis-daily:2026-03-03", str(daily))]
    for headers, body in Receiver.seen:
        stamp, signature = (part.split("=", 1)[1]
                            for part in headers["Shopstream-Signature"].split(","))
        expected = hmac.new(b"s3cret", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected)
        payload = orjson.loads(body)
        assert payload["type"] == "export_written" and payload["bytes"] > 0


def test_export_command_writes_the_report(planted, chdb_url, tmp_path, monkeypatch, capsys):
    import pyarrow.parquet as pq

    from streams.cli.main import main

    client, _ = planted
    monkeypatch.setenv("CLICKHOUSE_URL", chdb_url)
    monkeypatch.setenv("SHOPSTREAM_CLICKHOUSE_DATABASE", client.database)
    monkeypatch.setenv("SHOPSTREAM_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "experiments.parquet"
    assert main(["export", "experiments", "--format", "parquet", "--out", str(out),
                 "--to", "2026-03-02"]) == 0
    assert f"wrote 4 row(s) of experiments to {out}" in capsys.readouterr().err
    exported = pq.read_table(out).to_pylist()
    shown = run_report(client, "experiments", ReportParams(
        end=datetime(2026, 3, 2, tzinfo=UTC))).records()
    assert exported == shown
    assert main(["export", "kpis", "--format", "csv", "--out", str(tmp_path / "k.csv"),
                 "--grain", "month"]) == 0
    assert (tmp_path / "k.csv").read_text().splitlines()[1].startswith("2026-03-01,")
    with pytest.raises(SystemExit) as refused:  # a usage error, as argparse ends one
        main(["export", "kpis", "--format", "csv", "--out", str(tmp_path / "x.csv"),
              "--from", "yesterday"])
    assert refused.value.code == 2
    assert "not an ISO 8601 time: 'yesterday'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("name", ["rfm", "customers", "experiments", "kpis"])
def test_a_reports_parquet_schema_does_not_depend_on_its_data(planted, tmp_path, name):
    """An empty report is typed as a full one (rfm, customers and experiments are computed in
    Python: their columns' types are named there, not null), and decimals keep the column's
    ClickHouse precision and scale whatever the values: two periods' files concatenate."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from streams.cli.export import export_table

    client, _ = planted
    full, empty = tmp_path / "full.parquet", tmp_path / "empty.parquet"
    table = run_report(client, name, ReportParams(limit=0))
    assert table.rows
    export_table(table, "parquet", full)
    export_table(run_report(client, name, ReportParams(start=datetime(2030, 1, 1, tzinfo=UTC))),
                 "parquet", empty)
    schema = pq.read_table(full).schema
    assert pq.read_table(empty).num_rows == 0
    assert pq.read_table(empty).schema == schema
    assert not [f.name for f in schema if str(f.type) == "null"]
    assert pa.concat_tables([pq.read_table(full), pq.read_table(empty)]).num_rows == len(table.rows)
    money = {"rfm": {"monetary": "decimal128(38, 4)"},
             "customers": {"revenue": "decimal128(38, 4)", "aov": "decimal128(38, 2)",
                           "first_order": "timestamp[us, tz=UTC]", "p_alive": "double",
                           "expected_revenue": "decimal128(18, 4)"},
             "experiments": {"revenue": "decimal128(38, 4)",
                             "revenue_per_shopper": "decimal128(38, 2)", "winner": "bool",
                             "required_shoppers": "int64", "conversion_lift": "double"},
             "kpis": {"bucket": "date32[day]", "revenue": "decimal128(38, 4)",
                      "aov": "decimal128(38, 2)", "orders": "int64"}}[name]
    assert {c: str(schema.field(c).type) for c in money} == money
