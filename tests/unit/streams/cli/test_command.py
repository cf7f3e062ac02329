"""An option a command does not know is refused with that command's own usage."""

from __future__ import annotations

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
