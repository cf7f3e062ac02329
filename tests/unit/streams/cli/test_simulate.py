"""``shopstream simulate --out``: checked options reach the simulator; a file it cannot
write is one line and exit code 2."""

from __future__ import annotations

import orjson

from streams.cli.main import main


def test_a_missing_directory_is_one_line(tmp_path, capsys):
    out = tmp_path / "missing" / "x.jsonl"
    assert main(["simulate", "--count", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"shopstream simulate: cannot write {out}: the directory {out.parent} does not exist" in err
    assert "Traceback" not in err and not out.parent.exists()


def test_options_reach_the_events(tmp_path, capsys):
    out = tmp_path / "sim.jsonl"
    assert main(["simulate", "--count", "20", "--malformed", "0", "--duplicates", "0",
                 "--tenant", "shop-a", "--start", "2026-03-01T01:00:00+01:00",
                 "--users", "1", "--products", "1", "--out", str(out)]) == 0
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(events) == 20
    assert {e["tenant"] for e in events} == {"shop-a"}
    first = min(e.get("timestamp") or "" for e in events)
    assert first == "2026-03-01T00:00:00.000Z"
    assert "simulated 20 events (valid: 20)" in capsys.readouterr().err
