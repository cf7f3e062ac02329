"""An option a command does not know, or a value an option does not take, is refused with that
command's own usage and exit code 2."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.cli.main import build_parser


@pytest.mark.parametrize("argv", [["validate", "--foo"], ["simulate", "--count", "3", "--bogus"],
                                  ["report", "kpis", "--nope"]])
def test_an_unknown_option_names_the_command_and_shows_its_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: shopstream {argv[0]} ")
    assert f"shopstream {argv[0]}: error: unrecognized arguments: {argv[-1]}" in err


def test_known_options_still_parse():
    args = build_parser().parse_args(["validate", "events.jsonl"])
    assert (args.command, args.file) == ("validate", "events.jsonl")


def test_a_reader_that_stops_reading_ends_a_command_quietly():
    """``shopstream ... | head``: no traceback when head has read enough."""
    import subprocess
    import sys

    from tests.support import REPO

    process = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "simulate",
                                "--count", "50000", "--out", "-"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(100)
    process.stdout.close()
    assert process.wait(120) == 141
    assert b"Traceback" not in process.stderr.read()


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "kpis", "--from", "notadate"], "argument --from: not an ISO 8601 time: 'notadate'"),
    (["report", "kpis", "--from", "yesterday"], "argument --from: not an ISO 8601 time: 'yesterday'"),
    (["report", "kpis", "--to", "2026-13-01"], "argument --to: not an ISO 8601 time"),
    (["report", "rfm", "--as-of", "junk"], "argument --as-of: not an ISO 8601 time: 'junk'"),
    (["export", "kpis", "--format", "csv", "--out", "k.csv", "--from", "notadate"],
     "argument --from: not an ISO 8601 time: 'notadate'"),
    (["simulate", "--start", "notadate"], "argument --start: not an ISO 8601 time: 'notadate'"),
    (["report", "products", "--limit", "-1"], "argument --limit: not a whole number from 0"),
    (["report", "products", "--limit", "4294967296"],
     "argument --limit: not a whole number from 0 (every row) to 4294967295"),
    (["export", "products", "--format", "csv", "--out", "p.csv", "--limit", "-1"],
     "argument --limit: not a whole number from 0"),
    (["schedules", "add", "products", "--cadence", "daily", "--limit", "-1"],
     "argument --limit: not a whole number from 0"),
    (["simulate", "--rate", "0"], "argument --rate: not a finite number > 0: '0'"),
    (["simulate", "--rate", "-1"], "argument --rate: not a finite number > 0: '-1'"),
    (["simulate", "--rate", "nan"], "argument --rate: not a finite number > 0: 'nan'"),
    (["simulate", "--rate", "inf"], "argument --rate: not a finite number > 0: 'inf'"),
    (["simulate", "--users", "0"], "argument --users: not a whole number >= 1: '0'"),
    (["simulate", "--products", "0"], "argument --products: not a whole number >= 1: '0'"),
    (["simulate", "--bots", "1.5"], "argument --bots: not a share from 0 to 1: '1.5'"),
    (["simulate", "--malformed", "2"], "argument --malformed: not a share from 0 to 1: '2'"),
    (["simulate", "--duplicates", "nan"], "argument --duplicates: not a share from 0 to 1"),
    (["simulate", "--count", "-1"], "argument --count: not a whole number >= 0: '-1'"),
    (["simulate", "--duration", "-5"], "argument --duration: not a finite number >= 0: '-5'"),
    (["demo", "--rate", "0"], "argument --rate: not a finite number > 0: '0'"),
    (["keys", "create", "--tenant", "t", "--role", "write", "--rate", "nan"],
     "argument --rate: not a finite number > 0: 'nan'"),
    (["keys", "create", "--tenant", "t", "--role", "write", "--rate", "inf"],
     "argument --rate: not a finite number > 0: 'inf'"),
    (["keys", "create", "--tenant", "t", "--role", "write", "--rate", "0"],
     "argument --rate: not a finite number > 0: '0'"),
])
def test_a_bad_value_is_one_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: shopstream {argv[0]} ")
    assert f"shopstream {argv[0]}: error: {message}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["simulate"], ["report", "kpis"], ["export", "kpis", "--format", "csv", "--out", "k.csv"],
    ["produce", "f.csv", "--format", "rees46"], ["recommender", "train"], ["predict", "train"],
    ["privacy", "export", "--user", "u1"], ["schedules", "add", "kpis", "--cadence", "daily"],
    ["keys", "create", "--role", "read"], ["keys", "list"],
])
@pytest.mark.parametrize("tenant", ["bad tenant", "", "-dash", "x" * 129, "a/b"])
def test_every_tenant_option_follows_the_tenant_rule(argv, tenant, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*argv, f"--tenant={tenant}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --tenant: not a tenant: {tenant!r} (a tenant is 1-128 letters" in err


def test_good_values_parse_to_what_the_commands_use():
    args = build_parser().parse_args(["report", "rfm", "--from", "2026-03-01", "--to",
                                      "2026-03-02T01:00:00+01:00", "--as-of", "2026-03-05T00:00:00Z",
                                      "--tenant", "shop-a.eu_1", "--limit", "10"])
    assert (args.start, args.end, args.as_of) == (datetime(2026, 3, 1, tzinfo=UTC),
                                                  datetime(2026, 3, 2, tzinfo=UTC),
                                                  datetime(2026, 3, 5, tzinfo=UTC))
    assert (args.tenant, args.limit) == ("shop-a.eu_1", 10)
    args = build_parser().parse_args(["simulate", "--rate", "0.5", "--bots", "1", "--malformed",
                                      "0", "--users", "1", "--products", "1", "--count", "0",
                                      "--start", "2026-03-01T00:00:00Z", "--tenant", "shop-a"])
    assert (args.rate, args.bots, args.malformed, args.users, args.products, args.count) == (
        0.5, 1.0, 0.0, 1, 1, 0)
    assert (args.start, args.tenant) == (datetime(2026, 3, 1, tzinfo=UTC), "shop-a")
    defaults = build_parser().parse_args(["simulate"])
    assert (defaults.rate, defaults.users, defaults.start, defaults.tenant) == (50.0, 2000, None, None)
    assert build_parser().parse_args(["keys", "create", "--rate", "2.5"]).rate == 2.5
    # 0: every row of a report; a tail that stops once caught up
    assert build_parser().parse_args(["report", "customers", "--limit", "0"]).limit == 0
    assert build_parser().parse_args(["triggers", "tail", "cart_abandoned",
                                      "--idle-timeout", "0"]).idle_timeout == 0


def test_triggers_tail_help_names_the_action(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["triggers", "tail", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: shopstream triggers ")
    assert "tail: print committed triggers as JSON lines" in out


@pytest.mark.parametrize("argv", [
    ["predict", "train", "--horizon-days", "nan"], ["predict", "train", "--horizon-days", "0"],
    ["capacity", "--rate", "inf"], ["capacity", "--rate", "1000", "--utilisation", "1.5"],
    ["capacity", "--rate", "1000", "--utilisation", "0"],
    ["capacity", "--rate", "1000", "--partitions", "0"],
    ["triggers", "tail", "cart_abandoned", "--idle-timeout", "-1"],
    ["report", "affinity", "--min-support", "nan"],
    ["export", "affinity", "--format", "csv", "--out", "x.csv", "--min-support", "1.5"]])
def test_numbers_nan_and_out_of_range_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(argv)
    assert refused.value.code == 2 and "error: argument" in capsys.readouterr().err
