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
