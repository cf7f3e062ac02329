"""``shopstream``: the one command-line front door.

Each sub-command parses its options, builds the settings and calls into the
modules that do the work; nothing here holds logic of its own.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from models.errors import ShopstreamError
from streams.settings import Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "bootstrap", None):
        overrides["kafka_bootstrap"] = args.bootstrap
    if getattr(args, "web_port", None) is not None:
        overrides["web_port"] = args.web_port
    return load_settings(**overrides)


def _require_bootstrap(settings: Settings) -> str:
    from streams.broker import configured_bootstrap

    bootstrap = configured_bootstrap(settings)
    if not bootstrap:
        raise ShopstreamError(
            "no Kafka broker: set KAFKA_BOOTSTRAP=host:port, or start a local one with "
            "`shopstream broker start`"
        )
    return bootstrap


def _open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


# -- commands ---------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    settings = _settings(args)
    run_worker(settings, _require_bootstrap(settings))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from streams.validate_cli import validate_stream
    from streams.validation import rules_from

    settings = _settings(args)
    try:
        source = _open_input(args.file)
    except OSError as exc:
        print(f"shopstream validate: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    with source:
        return validate_stream(source, sys.stdout.buffer, rules_from(settings),
                               lambda: datetime.now(UTC))


def cmd_schema(args: argparse.Namespace) -> int:
    from models.serde import dumps
    from models.validation import json_schema

    sys.stdout.buffer.write(dumps(json_schema()) + b"\n")
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.progress import progress
    from streams.sources import jsonl_records, rees46_records
    from streams.tracker import Tracker

    settings = _settings(args)
    bootstrap = _require_bootstrap(settings)
    topic = args.topic or settings.topics.raw
    try:
        source = _open_input(args.file)
    except OSError as exc:
        print(f"shopstream produce: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    with source, Tracker(bootstrap, topic) as tracker, progress("producing") as bar:
        records = (rees46_records(source, args.tenant) if args.format == "rees46"
                   else jsonl_records(source, settings.max_event_bytes))
        for _number, key, value in records:
            tracker.send_raw(value, key)
            bar.advance()
        tracker.flush()
    print(f"sent {tracker.sent} events to {topic}: {tracker.delivered} delivered, "
          f"{tracker.failed} failed", file=sys.stderr)
    return 0 if tracker.failed == 0 else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    from streams.simulate_cli import run_simulation

    settings = _settings(args)
    return run_simulation(args, settings)


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(_settings(args), rate=args.rate, duration=args.duration, seed=args.seed)


def cmd_broker(args: argparse.Namespace) -> int:
    import json

    from streams.broker import running_local_broker, start_background_broker, stop_background_broker

    settings = _settings(args)
    if args.action == "start":
        state = start_background_broker(settings)
        print(json.dumps(state, indent=2))
        print(f"export KAFKA_BOOTSTRAP={state['bootstrap']}", file=sys.stderr)
    elif args.action == "stop":
        print("stopped" if stop_background_broker(settings) else "no local broker was running")
    else:
        bootstrap = running_local_broker(settings)
        print(f"running at {bootstrap}" if bootstrap else "not running")
        return 0 if bootstrap else 1
    return 0


# -- parser -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopstream", description="Real-time e-commerce analytics on Kafka."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP)")
        return p

    p = add("worker", "run the stream worker (validation stage, web views)")
    p.add_argument("--web-port", type=int, help="HTTP port for /metrics and /health")
    p.set_defaults(func=cmd_worker)

    p = add("validate", "validate JSON lines against the event contract")
    p.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")
    p.set_defaults(func=cmd_validate)

    p = add("schema", "print the JSON Schema of the event contract")
    p.set_defaults(func=cmd_schema)

    p = add("produce", "send a file of events to the raw topic")
    p.add_argument("file", help="input file, or - for stdin")
    p.add_argument("--format", choices=["jsonl", "rees46"], default="jsonl")
    p.add_argument("--topic", help="target topic (default: the raw events topic)")
    p.add_argument("--tenant", help="tenant for rees46 rows")
    p.set_defaults(func=cmd_produce)

    p = add("simulate", "generate shop traffic (to Kafka, or to a file with --out)")
    p.add_argument("--rate", type=float, default=50.0, help="events per second (event time)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    p.add_argument("--count", type=int, help="number of events (overrides --duration)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--users", type=int, default=2_000)
    p.add_argument("--products", type=int, default=500)
    p.add_argument("--malformed", type=float, default=0.02, help="share of malformed events")
    p.add_argument("--duplicates", type=float, default=0.01, help="share of re-sent events")
    p.add_argument("--tenant", help="tenant to stamp on events")
    p.add_argument("--start", help="event time of the first event (ISO 8601; default: now)")
    p.add_argument("--out", help="write JSON lines here instead of producing ('-' = stdout)")
    p.add_argument("--fast", action="store_true", help="do not pace to the wall clock")
    p.set_defaults(func=cmd_simulate)

    p = add("demo", "broker + worker + simulated traffic, with a live console view")
    p.add_argument("--rate", type=float, default=40.0)
    p.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--web-port", type=int)
    p.set_defaults(func=cmd_demo)

    p = add("broker", "start, stop or check a local single-node Kafka broker")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_broker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ShopstreamError as exc:
        print(f"shopstream {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
