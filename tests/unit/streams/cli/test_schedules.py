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
