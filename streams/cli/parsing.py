"""The command line's parsers."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

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
