"""``shopstream``: the one command-line front door. Each sub-command parses its options,
builds the settings and calls the modules that do the work; nothing here holds logic."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from models.errors import ShopstreamError
from models.settings import TRIGGER_KINDS, Settings, load_settings
from streams.cli.command import (
    TENANT_HELP,
    CommandParser,
    limit_arg,
    log_level,
    non_negative_number,
    positive_int,
    positive_number,
    run_command,
    share_arg,
    tenant_arg,
    time_arg,
)
from streams.kafka.discovery import require_bootstrap


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "bootstrap", None):
        overrides["kafka_bootstrap"] = args.bootstrap
    if getattr(args, "web_port", None) is not None:
        overrides["web_port"] = args.web_port
    return load_settings(**overrides)


def _open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


# -- commands ---------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.stages:  # a stage process started by a worker (streams/stages/process.py)
        from streams.stages.process import run_stage_process

        logging.basicConfig(level=settings.log_level, format="[%(asctime)s] [%(process)d] "
                            "[%(levelname)s] %(name)s: %(message)s", force=True)
        return run_stage_process(settings, require_bootstrap(settings),
                                 tuple(args.stages.split(",")))
    from streams.worker import run_worker

    run_worker(settings, require_bootstrap(settings))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from streams.cli.validate import validate_stream
    from streams.stages.validation import rules_from

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

    if args.what == "triggers":
        from models.triggers import trigger_schemas

        schema = trigger_schemas()
    else:
        from models.validation import json_schema

        schema = json_schema()
    sys.stdout.buffer.write(dumps(schema) + b"\n")
    return 0


def cmd_triggers(args: argparse.Namespace) -> int:
    from streams.cli.triggers import resolve_topic, tail

    settings = _settings(args)
    topic = resolve_topic(settings, args.topic)
    print(f"tailing {topic} (read_committed); Ctrl-C stops", file=sys.stderr, flush=True)
    printed = tail(require_bootstrap(settings), topic, group=args.group,
                   from_beginning=args.from_beginning, max_messages=args.max,
                   idle_timeout=args.idle_timeout)
    print(f"{printed} trigger(s)", file=sys.stderr)
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.cli.produce import produce_file

    settings = _settings(args)
    bootstrap = require_bootstrap(settings)
    try:
        source = _open_input(args.file)
    except OSError as exc:
        print(f"shopstream produce: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    return produce_file(source, args.format, args.topic or settings.topics.raw, args.tenant,
                        settings, bootstrap)


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.cli.demo import run_demo

    return run_demo(_settings(args), rate=args.rate, duration=args.duration, seed=args.seed)


def cmd_broker(args: argparse.Namespace) -> int:
    import json

    from streams.kafka.discovery import running_local_broker, start_background_broker, stop_background_broker

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


def cmd_migrate(args: argparse.Namespace) -> int:
    from sinks.connection import connect, redact
    from sinks.database import bring_up_to_date

    settings = _settings(args)
    _refuse_if_worker_owns_chdb(settings, "migrate")
    url = settings.resolved_clickhouse_url
    client = connect(url, settings.clickhouse_database, cluster=settings.clickhouse_cluster)
    applied = bring_up_to_date(client, settings, progress=lambda text: print(text, file=sys.stderr))
    print(f"{redact(url)} database {settings.clickhouse_database}: "
          f"{len(applied)} migration(s) applied, schema is current", file=sys.stderr)
    return 0


def _refuse_if_worker_owns_chdb(settings: Settings, what: str) -> None:
    from streams.cli.queries import owning_worker

    if owning_worker(settings):
        raise ShopstreamError(
            f"a worker owns the embedded ClickHouse in {settings.data_dir}; stop it before "
            f"`{what}`, or send the events through Kafka (`shopstream produce`)"
        )


def cmd_report(args: argparse.Namespace) -> int:
    from streams.cli.output import write_table
    from streams.cli.queries import command_tenant, query_backend, report_params

    settings = _settings(args)
    params = report_params(
        settings, tenant=command_tenant(settings, args.tenant), start=args.start, end=args.end,
        as_of=args.as_of, grain=args.grain, limit=args.limit,
        min_support=args.min_support, include_bots=args.include_bots, by=args.by,
    )
    write_table(query_backend(settings).report(args.name, params), args.format)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from streams.cli.output import write_table
    from streams.cli.queries import query_backend

    settings = _settings(args)
    query = sys.stdin.read() if args.query == "-" else args.query
    write_table(query_backend(settings).sql(query), args.format)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from sinks.database import open_database
    from sinks.writer import ClickHouseWriter
    from streams.cli.progress import progress
    from streams.privacy.suppression import followed_for_backfill
    from streams.sources.ingest import ingest
    from streams.stages.validation import rules_from

    settings = _settings(args)
    path = Path(args.file)
    if not path.is_file():
        print(f"shopstream ingest: cannot read {path}", file=sys.stderr)
        return 2
    _refuse_if_worker_owns_chdb(settings, "ingest")
    dead = Path(args.dead_letters) if args.dead_letters else (
        settings.data_dir / "dead-letters" / f"{path.stem}.jsonl")
    dead.parent.mkdir(parents=True, exist_ok=True)
    client = open_database(settings)
    before = client.query("SELECT count() FROM events").result_rows[0][0]
    with progress("ingesting") as bar:
        summary = ingest(path, args.format, ClickHouseWriter(client), rules_from(settings), dead,
                         batch_rows=settings.sink_batch_rows, progress=bar.advance,
                         erased=followed_for_backfill(settings, client))
    added = client.query("SELECT count() FROM events").result_rows[0][0] - before
    print(f"ingested {summary.events} events ({summary.order_items} order items) from "
          f"{summary.lines} lines in {summary.batches} batch(es): {added} new rows in events "
          f"({summary.stored} already in ClickHouse, not written again); "
          f"{summary.duplicates} duplicate(s) in the file skipped; "
          f"{summary.erased} of erased people left out; {summary.invalid} invalid -> {dead}", file=sys.stderr)
    return 0 if summary.invalid == 0 else 1


def cmd_recommender(args: argparse.Namespace) -> int:
    from streams.cli.recommender import run

    settings = _settings(args)
    return run(settings, args.action, tenant=args.tenant, holdout=args.holdout or settings.reco_holdout,
               leave_last=args.leave_last, version=args.version, fmt=args.format)


# -- parser -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopstream", description="Real-time e-commerce analytics on Kafka."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=CommandParser)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP)")
        return p

    p = add("worker", "run the stream worker: validation, live and trending stages, the "
            "ClickHouse sink, web views")
    p.add_argument("--web-port", type=int, help="HTTP port for /metrics and /health")
    p.add_argument("--stages", help=argparse.SUPPRESS)  # a worker's own stage process
    p.set_defaults(func=cmd_worker)

    p = add("validate", "validate JSON lines against the event contract")
    p.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")
    p.set_defaults(func=cmd_validate)

    p = add("schema", "print the JSON Schema of the event contract, or of the triggers")
    p.add_argument("what", nargs="?", choices=["events", "triggers"], default="events")
    p.set_defaults(func=cmd_schema)

    p = add("triggers", "read trigger topics (an example automation consumer)")
    p.add_argument("action", choices=["tail"], help="tail: print committed triggers as JSON lines")
    p.add_argument("topic", help=", ".join(TRIGGER_KINDS) + ", or a full topic name")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest trigger")
    p.add_argument("--group", help="consumer group (commits offsets: a restart carries on)")
    p.add_argument("--max", type=positive_int, help="stop after this many triggers")
    p.add_argument("--idle-timeout", type=non_negative_number,
                   help="stop after this many quiet seconds (0: once caught up)")
    p.set_defaults(func=cmd_triggers)

    p = add("produce", "send a file of events to the raw topic")
    p.add_argument("file", help="input file, or - for stdin")
    p.add_argument("--format", choices=["jsonl", "rees46"], default="jsonl")
    p.add_argument("--topic", help="target topic (default: the raw events topic)")
    p.add_argument("--tenant", type=tenant_arg, help="tenant for rees46 rows")
    p.set_defaults(func=cmd_produce)

    from streams.cli import simulate

    simulate.register(add)

    p = add("demo", "broker + worker + simulated traffic, with a live console view")
    p.add_argument("--rate", type=positive_number, default=40.0, help="events/s, > 0 (default 40)")
    p.add_argument("--duration", type=non_negative_number, default=None, help="stop after N seconds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--web-port", type=int)
    p.set_defaults(func=cmd_demo)

    p = add("migrate", "create or update the ClickHouse schema")
    p.set_defaults(func=cmd_migrate)

    from sinks.reports import GRAINS, REPORTS

    p = add("report", "run an analyst report on ClickHouse")
    p.add_argument("name", choices=list(REPORTS))
    p.add_argument("--from", dest="start", type=time_arg,
                   help="start, inclusive (ISO 8601 date or time, UTC)")
    p.add_argument("--to", dest="end", type=time_arg,
                   help="end, exclusive (ISO 8601 date or time, UTC)")
    p.add_argument("--tenant", type=tenant_arg, help=TENANT_HELP)
    p.add_argument("--grain", choices=list(GRAINS), help="time reports' bucket: kpis, funnel, "
                   "automation, quality (default day), cohorts (day, week or month; default month)")
    p.add_argument("--limit", type=limit_arg, default=50,
                   help="products, affinity, customers: rows, >= 1 (50)")
    p.add_argument("--min-support", type=share_arg, default=0.0,
                   help="affinity: the least share of orders a pair is in, 0 to 1 (0)")
    p.add_argument("--as-of", type=time_arg,
                   help="rfm: the day recency is counted to (default: latest event)")
    p.add_argument("--include-bots", action="store_true", help="every report but quality: bots too")
    p.add_argument("--by", choices=["device", "country", "source"], help="kpis per dimension")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_report)

    p = add("sql", "run a read-only SQL query on ClickHouse")
    p.add_argument("query", help="the query, or - to read it from stdin")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_sql)

    p = add("ingest", "validate a file and write it to ClickHouse, without Kafka")
    p.add_argument("file")
    p.add_argument("--format", choices=["jsonl", "csv", "rees46"], default="jsonl")
    p.add_argument("--dead-letters",
                   help="where invalid lines go (default: DATA_DIR/dead-letters/FILE.jsonl)")
    p.set_defaults(func=cmd_ingest)

    p = add("recommender", "train, evaluate, list or activate recommender models; A/B tests")
    p.add_argument("action", choices=["train", "evaluate", "list", "activate", "ab-start",
                                      "ab-stop", "ab-report"])
    p.add_argument("version", nargs="?", type=int,
                   help="activate, ab-start: the model version; list: whose candidates to show")
    p.add_argument("--tenant", type=tenant_arg, help="tenant (default: $SHOPSTREAM_DEFAULT_TENANT)")
    p.add_argument("--holdout", default=None,
                   help="evaluation: held-out span at the end, e.g. 7d, 12h, 30m "
                        "(default: $SHOPSTREAM_RECO_HOLDOUT, auto = min(7d, 20%% of the data))")
    p.add_argument("--leave-last", type=int, help="evaluation: hold out each user's last K "
                   "products instead of a time span")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_recommender)

    from streams.cli import export, predict, schedules, webhooks

    for module in (predict, export, schedules, webhooks):
        module.register(add)

    from streams.cli import capacity

    capacity.register(add)

    from streams.cli import collector, keys

    for module in (collector, keys):
        module.register(add)

    from streams.cli import privacy

    privacy.register(add)

    from streams.cli import fx

    fx.register(add)

    p = add("broker", "start, stop or check a local single-node Kafka broker")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_broker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=log_level(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
