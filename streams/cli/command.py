"""What every command shares: its parser, and how it runs (the errors it may end with,
each one line and an exit code)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from models.environment import settings_problems, unknown_variables
from models.errors import ShopstreamError
from models.fields import TENANT_RULE, Tenant
from models.settings import Settings, load_settings
from models.times import parse_iso

# the tenant of a command that reads reports (streams.cli.queries.command_tenant)
TENANT_HELP = ("tenant (default: the tenant of $SHOPSTREAM_API_KEY when the command goes "
               "through a worker, else $SHOPSTREAM_DEFAULT_TENANT)")
UINT32_MAX = 2**32 - 1  # the largest LIMIT a report's query takes (UInt32)
_TENANT = TypeAdapter(Tenant)
_T = TypeVar("_T", int, float)


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


# -- option types: a bad value is refused by the parser, with the command's usage, exit code 2


def time_arg(text: str) -> datetime:
    """``--from``, ``--to``, ``--as-of``, ``--start``: ISO 8601 (a date, or a time with ``Z``,
    an offset, or none = UTC) as an aware UTC datetime."""
    try:
        return parse_iso(text)
    except (ValueError, OverflowError):  # (overflow: an offset past year 1 or 9999)
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def tenant_arg(text: str) -> str:
    """``--tenant``: the tenant rule of events and API keys (:data:`models.fields.Tenant`)."""
    try:
        return _TENANT.validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"not a tenant: {text!r} (a tenant is {TENANT_RULE})") \
            from None


def _number(text: str, convert: Callable[[str], _T], ok: Callable[[_T], bool], rule: str) -> _T:
    try:
        value = convert(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not {rule}: {text!r}") from None
    if not ok(value):  # (NaN and infinities fail every comparison made here)
        raise argparse.ArgumentTypeError(f"not {rule}: {text!r}")
    return value


def positive_number(text: str) -> float:
    """A rate: a finite number > 0 (not NaN, not infinity)."""
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")


def non_negative_number(text: str) -> float:
    """A span of time: a finite number >= 0."""
    return _number(text, float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def utilisation_arg(text: str) -> float:
    """A share of a core to plan: above 0, at most 1."""
    return _number(text, float, lambda v: 0 < v <= 1, "a share above 0 and at most 1")


def share_arg(text: str) -> float:
    """A share: a number from 0 to 1."""
    return _number(text, float, lambda v: 0 <= v <= 1, "a share from 0 to 1")


def positive_int(text: str) -> int:
    """How many of something there must be at least one of: a whole number >= 1."""
    return _number(text, int, lambda v: v >= 1, "a whole number >= 1")


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "a whole number >= 0")


def limit_arg(text: str) -> int:
    """``--limit``: rows of a report, 0 (every row) to 4294967295 (what its query's LIMIT
    takes)."""
    return _number(text, int, lambda v: 0 <= v <= UINT32_MAX,
                   f"a whole number from 0 (every row) to {UINT32_MAX}")


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
