"""``shopstream collector``: run the HTTP collector (``streams/collector/``)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from models.settings import load_settings
from streams.kafka.discovery import require_bootstrap


def command(args: argparse.Namespace) -> int:
    from streams.collector.app import run_collector

    overrides: dict[str, object] = {}
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    if args.host:
        overrides["collector_host"] = args.host
    if args.port is not None:
        overrides["collector_port"] = args.port
    settings = load_settings(**overrides)
    logging.getLogger().setLevel(settings.log_level)
    run_collector(settings, require_bootstrap(settings))
    return 0


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("collector", "run the HTTP collector: Segment's HTTP API, /collect and the "
            "browser SDK, into the raw events topic")
    p.add_argument("--host", help="interface to listen on (default: $SHOPSTREAM_COLLECTOR_HOST, "
                   "127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $SHOPSTREAM_COLLECTOR_PORT, 8080)")
    p.set_defaults(func=command)
