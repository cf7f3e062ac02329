"""``shopstream schedules add|list|remove`` keep ``DATA_DIR/schedules.json``; mistakes are
messages with exit status 2, never tracebacks."""

from __future__ import annotations

import json

import pytest

from streams.cli.main import main


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SHOPSTREAM_SCHEDULE", raising=False)
    return tmp_path


def test_add_list_remove(data_dir, capsys, monkeypatch):
    assert main(["schedules", "add", "kpis", "--cadence", "daily", "--grain", "week"]) == 0
    assert main(["schedules", "add", "products", "--cadence", "monthly", "--format", "xlsx",
                 "--name", "board", "--limit", "10"]) == 0
    saved = json.loads((data_dir / "schedules.json").read_text())
    assert [(s["name"], s["report"], s["cadence"], s["format"], s["grain"], s["limit"])
            for s in saved] == [("kpis-daily", "kpis", "daily", "csv", "week", 50),
                                ("board", "products", "monthly", "xlsx", None, 10)]
    capsys.readouterr()
    monkeypatch.setenv("SHOPSTREAM_SCHEDULE", "funnel:weekly")
    assert main(["schedules", "list", "--list-format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["written"]) for s in listed] == [
        ("funnel-weekly", False), ("kpis-daily", False), ("board", False)]
    assert listed[2]["latest_file"].startswith(str(data_dir / "exports" / "board" / "products-"))
    assert main(["schedules", "remove", "board"]) == 0
    assert [s["name"] for s in json.loads((data_dir / "schedules.json").read_text())] == ["kpis-daily"]


@pytest.mark.parametrize(("argv", "message"), [
    (["schedules", "add", "kpis"], "needs a REPORT and --cadence"),
    (["schedules", "add", "nope", "--cadence", "daily"], "unknown report 'nope'"),
    (["schedules", "remove", "ghost"], "no saved schedule named 'ghost'"),
    (["schedules", "run", "--once"], "no schedules"),
])
def test_mistakes_are_messages(data_dir, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_name_is_used_once(data_dir, capsys):
    assert main(["schedules", "add", "kpis", "--cadence", "daily"]) == 0
    assert main(["schedules", "add", "kpis", "--cadence", "daily"]) == 2
    assert "a schedule named kpis-daily exists" in capsys.readouterr().err


def test_remove_without_a_name_says_a_name_is_needed(data_dir, capsys):
    assert main(["schedules", "remove"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shopstream schedules: schedules remove needs a NAME")
    assert "None" not in err


class RecordingBackend:
    """A query backend that answers every report with no rows, noting the tenant asked."""

    where = "test"

    def __init__(self) -> None:
        self.tenants: list[str] = []

    def report(self, name, params):
        from sinks.reports import Table

        self.tenants.append(params.tenant)
        return Table(["bucket"], [])

    def sql(self, query):
        raise AssertionError("not used")


def run_once_as(monkeypatch, data_dir, default_tenant: str) -> list[str]:
    """The tenants one pass of every saved schedule reads, run with ``default_tenant``."""
    from datetime import UTC, datetime

    from models.settings import load_settings
    from streams.cli.schedules import all_schedules, run_due

    monkeypatch.setenv("SHOPSTREAM_DEFAULT_TENANT", default_tenant)
    settings = load_settings()
    backend = RecordingBackend()
    summary = run_due(settings, all_schedules(settings), backend, datetime(2026, 3, 4, tzinfo=UTC))
    assert summary.failed == []
    return backend.tenants


def test_a_schedule_keeps_the_tenant_it_was_added_with(data_dir, monkeypatch, capsys):
    monkeypatch.delenv("SHOPSTREAM_API_KEY", raising=False)
    monkeypatch.setenv("SHOPSTREAM_DEFAULT_TENANT", "myshop")
    assert main(["schedules", "add", "kpis", "--cadence", "daily"]) == 0
    assert main(["schedules", "add", "kpis", "--cadence", "weekly", "--tenant", "named"]) == 0
    assert "for tenant myshop" in capsys.readouterr().err
    saved = json.loads((data_dir / "schedules.json").read_text())
    assert [s["tenant"] for s in saved] == ["myshop", "named"]
    assert run_once_as(monkeypatch, data_dir, "othershop") == ["myshop", "named"]


def test_a_schedule_added_through_a_worker_keeps_the_api_keys_tenant(data_dir, monkeypatch):
    asked = []

    def answer(base_url, method, path, params, timeout=300, decimals=False):
        asked.append(path)
        return {"tenant": "keyshop"}

    monkeypatch.setenv("SHOPSTREAM_API_KEY", "sk_test")
    monkeypatch.setattr("streams.cli.queries.owning_worker", lambda settings: "http://worker")
    monkeypatch.setattr("streams.cli.queries.worker_request", answer)
    assert main(["schedules", "add", "kpis", "--cadence", "daily"]) == 0
    assert asked == ["/key"]
    assert json.loads((data_dir / "schedules.json").read_text())[0]["tenant"] == "keyshop"


def test_a_schedule_saved_without_a_tenant_reads_the_default_tenant(data_dir, monkeypatch):
    """schedules.json written before the tenant was kept: ``"tenant": null`` still works,
    reading SHOPSTREAM_DEFAULT_TENANT of whoever runs it."""
    (data_dir / "schedules.json").write_text(json.dumps([
        {"report": "kpis", "cadence": "daily", "format": "csv", "name": "kpis-daily",
         "tenant": None, "grain": None, "limit": 50}]))
    assert run_once_as(monkeypatch, data_dir, "othershop") == ["othershop"]
