"""``shopstream validate``: one verdict per line, summary on stderr, exit codes."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys

import jsonschema
import orjson
import pytest

from models.serde import dumps
from models.validation import Rules, json_schema, validate_bytes
from streams.cli.validate import validate_stream
from streams.sources.simulator import SimConfig, simulate
from tests.unit.conftest import NOW, order, track


def run(data: bytes, rules: Rules | None = None) -> tuple[int, list[dict], list[str]]:
    out, messages = io.BytesIO(), []
    code = validate_stream(io.BytesIO(data), out, rules or Rules(), lambda: NOW, messages.append)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()], messages


def test_all_valid_exits_zero_and_echoes_canonical_events():
    lines = [orjson.dumps(track("Order Completed", order())),
             orjson.dumps({"category": "product", "event_type": "view", "user_id": "u",
                           "product_id": "p"})]
    code, verdicts, messages = run(b"\n".join(lines) + b"\n")
    assert code == 0
    assert [v["line"] for v in verdicts] == [1, 2] and all(v["ok"] for v in verdicts)
    assert verdicts[0]["event"]["properties"]["total"] == 46.17
    assert verdicts[1]["event"]["event"] == "Product Viewed"
    assert messages == ["validated 2 lines: 2 valid, 0 invalid"]


def test_every_kind_of_bad_line_is_reported_on_its_line():
    data = b"\n".join([
        orjson.dumps(track("Product Viewed", {"product_id": "p", "price": -1})),
        b"{not json",
        b"\xff\xfe\xfd",
        b"",
        b'{"type":"track","event":"Logged In","userId":"u","pad":"' + b"x" * 300 + b'"}',
        b"[1,2]",
        orjson.dumps(track("Logged In")),
    ]) + b"\r\n"
    code, verdicts, messages = run(data, Rules(max_event_bytes=200))
    assert code == 1
    got = [(v["line"], v["ok"], v.get("errors", [{}])[0].get("code")) for v in verdicts]
    assert got == [
        (1, False, "price_not_positive"),
        (2, False, "json_invalid"),
        (3, False, "encoding_invalid"),
        (5, False, "too_large"),
        (6, False, "not_object"),
        (7, True, None),
    ]
    assert verdicts[0]["errors"][0]["path"] == "properties.price"
    assert messages[0].startswith("validated 6 lines: 1 valid, 5 invalid (")
    assert messages[0].endswith("; 1 blank line skipped (line 4)")


def test_blank_lines_hold_no_event_and_are_skipped_with_a_word():
    event = orjson.dumps(track("Logged In"))
    code, verdicts, messages = run(b"\n" + event + b"\n \t\r\n\n" + event + b"\n\n")
    assert code == 0
    assert [(v["line"], v["ok"]) for v in verdicts] == [(2, True), (5, True)]
    assert messages == ["validated 2 lines: 2 valid, 0 invalid; "
                        "4 blank lines skipped (line 1, 3, 4, 6)"]


def test_huge_line_is_skipped_not_loaded():
    huge = b'{"a":"' + b"x" * (3 * 1024 * 1024) + b'"}\n'
    code, verdicts, _ = run(huge + orjson.dumps(track("Logged In")) + b"\n")
    assert code == 1
    assert [(v["line"], v["ok"]) for v in verdicts] == [(1, False), (2, True)]


def test_cli_exit_codes(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_bytes(orjson.dumps(track("Logged In")) + b"\n")
    cmd = [sys.executable, "-m", "streams.cli.main", "validate"]
    ok = subprocess.run([*cmd, str(good)], capture_output=True)
    assert ok.returncode == 0, ok.stderr
    assert orjson.loads(ok.stdout)["ok"] is True
    assert b"1 valid, 0 invalid" in ok.stderr
    piped = subprocess.run([*cmd, "-"], input=b"{bad\n", capture_output=True)
    assert piped.returncode == 1 and orjson.loads(piped.stdout)["ok"] is False
    missing = subprocess.run([*cmd, str(tmp_path / "nope.jsonl")], capture_output=True)
    assert missing.returncode == 2 and b"cannot read" in missing.stderr
    usage = subprocess.run([*cmd, "--no-such-flag"], capture_output=True)
    assert usage.returncode == 2


def test_schema_command_prints_the_contract():
    out = subprocess.run([sys.executable, "-m", "streams.cli.main", "schema"], capture_output=True,
                         check=True)
    schema = orjson.loads(out.stdout)
    assert schema["$ref"] == "#/$defs/Envelope"
    assert schema["x-event-properties"]["Order Completed"] == "Order"
    assert "userId" in schema["$defs"]["Envelope"]["properties"]
    assert "line_total" in schema["$defs"]["Product"]["properties"]


def test_every_canonical_event_is_valid_under_the_schema() -> None:
    """The schema is usable by a standard validator: its references resolve, and what the
    stages write (canonical events of simulated traffic, every kind) conforms to it."""
    validator = jsonschema.Draft202012Validator(json_schema())
    kinds = set()
    for event in itertools.islice(simulate(SimConfig(seed=3, rate=50.0)), 3_000):
        raw = event.value if isinstance(event.value, bytes) else dumps(event.value)
        result = validate_bytes(raw, Rules(enrich=True), NOW)
        if result.ok:
            canonical = orjson.loads(dumps(result.canonical))
            errors = [e.message for e in validator.iter_errors(canonical)]
            assert not errors, (canonical, errors[:3])
            kinds.add(canonical.get("event") or canonical["type"])
    assert {"Order Completed", "Product Viewed", "identify", "page"} <= kinds, kinds
    assert list(validator.iter_errors({"type": "track", "event": "X"}))  # no ids, no time


def test_a_setting_the_environment_got_wrong_is_one_line_not_a_traceback():
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "validate", "-"],
                          input=b"{}\n", capture_output=True,
                          env={**os.environ, "SHOPSTREAM_DEFAULT_TENANT": "bad tenant"})
    assert done.returncode == 2, done.stderr
    said = done.stderr.decode().strip().splitlines()
    assert len(said) == 1 and said[0].startswith(
        "shopstream validate: invalid settings: SHOPSTREAM_DEFAULT_TENANT='bad tenant': "), said


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("SHOPSTREAM_CART_ABANDON_AFTER_S", "-5", "Input should be greater than 0"),
    ("CART_ABANDON_AFTER", "-5", "Input should be greater than 0"),
    ("SHOPSTREAM_LOG_LEVEL", "bogus", "not a log level"),
])
def test_a_refused_setting_is_named_by_the_variable_that_set_it(variable, value, says):
    env = {k: v for k, v in os.environ.items() if k not in ("CART_ABANDON_AFTER",
                                                             "SHOPSTREAM_CART_ABANDON_AFTER_S")}
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "validate", "-"],
                          input=b"{}\n", capture_output=True, env={**env, variable: value})
    assert done.returncode == 2, done.stderr
    (said,) = done.stderr.decode().strip().splitlines()
    assert said.startswith(f"shopstream validate: invalid settings: {variable}={value!r}: ")
    assert says in said, said


def test_the_log_level_holds_for_commands_in_any_case(monkeypatch):
    from models.settings import load_settings
    from streams.cli.command import log_level

    assert load_settings(log_level="debug").log_level == "DEBUG"
    monkeypatch.setenv("SHOPSTREAM_LOG_LEVEL", "error")
    assert log_level() == "ERROR"  # what main() configures logging with, for every command
    monkeypatch.setenv("SHOPSTREAM_LOG_LEVEL", "bogus")
    assert log_level() == "INFO"  # the command itself then says what is wrong


@pytest.mark.parametrize(("level", "infos"), [("info", True), ("error", False)])
def test_a_command_logs_at_the_level_set(level, infos, tmp_path):
    """``ingest`` into a new database logs its migrations at INFO: not at ERROR."""
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "ingest", str(empty)],
                          capture_output=True, timeout=300,
                          env={**os.environ, "SHOPSTREAM_LOG_LEVEL": level, "KAFKA_BOOTSTRAP": "",
                               "SHOPSTREAM_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    assert (b" INFO sinks.database: applying migration 1" in done.stderr) is infos, done.stderr


def test_a_shopstream_variable_no_setting_reads_is_named_with_the_nearest_one():
    from models.environment import setting_variables, unknown_variables

    said = unknown_variables({"SHOPSTREAM_TOP_N": "5", "SHOPSTREAM_SINK_BATCH_ROW": "5",
                              "SHOPSTREAM_FOO": "1", "SHOPSTREAM_TRENDING_TOP_N": "5",
                              "CART_ABANDON_AFTER": "1h", "PATH": "/bin"})
    assert said == [
        "SHOPSTREAM_FOO is not a setting; it is ignored",
        "SHOPSTREAM_SINK_BATCH_ROW is not a setting (did you mean "
        "SHOPSTREAM_SINK_BATCH_ROWS?); it is ignored",
        "SHOPSTREAM_TOP_N is not a setting (did you mean SHOPSTREAM_TRENDING_TOP_N?); it is ignored"]
    assert {"SHOPSTREAM_CART_ABANDON_AFTER_S", "CART_ABANDON_AFTER",
            "SHOPSTREAM_CACHE_DIR"} <= setting_variables()
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "validate", "-"],
                          input=b"", capture_output=True,
                          env={**os.environ, "SHOPSTREAM_TOP_N": "5"})
    assert done.returncode == 0 and done.stderr.decode().startswith(
        "shopstream: SHOPSTREAM_TOP_N is not a setting (did you mean "), done.stderr
