"""What every command shares: its parser, and how it runs (the errors it may end with,
each one line and an exit code)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from models.environment import settings_problems, unknown_variables
from models.errors import ShopstreamError
from models.settings import Settings, load_settings

# the tenant of a command that reads reports (streams.cli.queries.command_tenant)
TENANT_HELP = ("tenant (default: the tenant of $SHOPSTREAM_API_KEY when the command goes "
               "through a worker, else $SHOPSTREAM_DEFAULT_TENANT)")


class CommandParser(argparse.ArgumentParser):
    """A command's parser: an option it does not know is refused with the command's own
    usage (argparse leaves it to the top-level parser, whose usage names no option)."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command: a ShopstreamError or a bad setting is one line and exit code
    2, Ctrl-C 130, a reader that stopped reading (``| head``) ends it quietly. A
    ``SHOPSTREAM_*`` variable no setting reads is named first (a misspelt setting)."""
    for warning in unknown_variables(os.environ):
        print(f"shopstream: {warning}", file=sys.stderr)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # (here, so that a reader gone by now is caught below)
        return code
    except ShopstreamError as exc:
        print(f"shopstream {args.command}: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise  # not the environment's fault: a bug, with its traceback
        print(f"shopstream {args.command}: invalid settings: {settings_problems(exc)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # what is left to write goes nowhere, so that the interpreter's exit does not fail
        # on it again (as Python's documentation advises for SIGPIPE)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def log_level() -> str:
    """``SHOPSTREAM_LOG_LEVEL`` for every command; INFO while the settings do not load (the
    command then says what is wrong with them, in one line)."""
    try:
        return load_settings().log_level
    except ValidationError:
        return "INFO"
