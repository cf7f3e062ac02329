"""``shopstream webhooks add|list|remove|status``: the endpoints triggers are POSTed to.

Endpoints live in the compacted topic ``shop.webhooks`` (:mod:`streams.webhooks.endpoints`),
so these commands need only the broker, and every worker sees a change within a second.
``status`` adds each endpoint's backlog, read from Kafka (its consumer group's committed
offsets against the trigger topics' ends: every worker's deliveries), and the delivery
figures of the worker running on this data directory, read from its ``/metrics``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from models.serde import dumps
from models.settings import TRIGGER_KINDS, Settings, load_settings
from models.times import format_ms
from sinks.reports import Table
from streams.cli.output import FORMATS, write_table
from streams.cli.queries import running_worker
from streams.kafka.discovery import require_bootstrap
from streams.kafka.retrying import partitions_of, retrying, watermarks
from streams.monitoring.scrape import fetch_metrics, total
from streams.webhooks.endpoints import Endpoint, EndpointStore, endpoint_group, new_endpoint

FIGURES = (("delivered", "shopstream_webhook_delivered_total"),
           ("dead_letters", "shopstream_webhook_dead_letters_total"),
           ("retrying", "shopstream_webhook_retrying"),
           ("last_success", "shopstream_webhook_last_success_timestamp_seconds"))


def backlog(bootstrap: str, group: str, topics: list[str]) -> int:
    """Triggers not yet acknowledged by the endpoint (every worker's deliveries): per
    partition, the end offset less the group's committed offset (or the start, before any)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:  # (each call asked again while a topic's leader is not known yet)
        wanted = [TopicPartition(topic, p) for topic in topics
                  for p in partitions_of(consumer, topic, bootstrap)]
        pending = 0
        for tp in retrying(lambda t: consumer.committed(wanted, timeout=t),
                           f"with the offsets committed by {group}", bootstrap):
            low, high = watermarks(consumer, tp, bootstrap)
            pending += max(high - (tp.offset if tp.offset >= 0 else low), 0)
        return pending
    finally:
        consumer.close()


def worker_figures(settings: Settings) -> dict[str, dict[str, float]] | None:
    """endpoint id -> its figures on the worker running here; None when no worker runs on
    this data directory or it does not answer."""
    web = running_worker(settings)
    if web is None:
        return None
    try:
        metrics = fetch_metrics(f"{web}/metrics")
    except OSError:
        return None
    ids = {value for name, series in metrics.items() if name.startswith("shopstream_webhook_")
           for labels in series for key, value in labels if key == "endpoint"}
    return {i: {column: total(metrics, name, endpoint=i) for column, name in FIGURES}
            for i in ids}


def _row(endpoint: Endpoint) -> list[Any]:
    return [endpoint.id, endpoint.url, ",".join(endpoint.types), endpoint.masked_secret(),
            format_ms(endpoint.created_at_ms)]


def run(args: argparse.Namespace) -> int:
    settings = load_settings(**({"kafka_bootstrap": args.bootstrap} if args.bootstrap else {}))
    bootstrap = require_bootstrap(settings)
    if args.action == "add":
        if not args.url or not args.types:
            print("shopstream webhooks add: --url and --types are required", file=sys.stderr)
            return 2
        # checked before the broker is asked anything: a URL urllib cannot POST to is refused
        endpoint = new_endpoint(args.url, args.types, args.secret, int(time.time() * 1000))
    store = EndpointStore(settings, bootstrap)  # (creates shopstream's topics on a new broker)
    if args.action == "add":
        store.start_group_at(endpoint, args.from_beginning)
        store.put(endpoint)
        sys.stdout.write(dumps({"id": endpoint.id, "url": endpoint.url,
                                "types": list(endpoint.types), "secret": endpoint.secret})
                         .decode() + "\n")
        kept = ("the signing secret is the one given" if args.secret else
                "keep the signing secret above (list shows it masked)")
        print(f"added webhook {endpoint.id}: {', '.join(endpoint.types)} -> {endpoint.url}; "
              f"{kept}", file=sys.stderr)
        return 0
    if args.action == "remove":
        if not args.id:
            print("shopstream webhooks remove: which endpoint? (an id from `webhooks list`)",
                  file=sys.stderr)
            return 2
        store.remove(args.id)
        print(f"removed webhook {args.id}", file=sys.stderr)
        return 0
    endpoints = sorted(store.all().values(), key=lambda e: e.created_at_ms)
    columns = ["id", "url", "types", "secret", "created_at"]
    rows = [_row(e) for e in endpoints]
    if args.action == "status":
        figures = worker_figures(settings)
        if figures is None:
            print(f"no worker answers on {settings.data_dir}: the delivery figures (counted by "
                  "a worker since its start) are left empty; pending is read from Kafka",
                  file=sys.stderr)
        columns += ["pending", *(column for column, _name in FIGURES)]
        for row, endpoint in zip(rows, endpoints, strict=True):
            pending = backlog(bootstrap, endpoint_group(settings, endpoint.id),
                              [settings.topics.triggers[k] for k in endpoint.types])
            if figures is None:
                row += [pending, None, None, None, None]
                continue
            mine = figures.get(endpoint.id, {})
            last = mine.get("last_success") or 0
            row += [pending, int(mine.get("delivered", 0)), int(mine.get("dead_letters", 0)),
                    bool(mine.get("retrying", 0)), format_ms(int(last * 1000)) if last else None]
    write_table(Table(columns, rows), args.format)
    return 0


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("webhooks", "POST triggers to HTTP endpoints: add, list, remove, status")
    p.add_argument("action", choices=["add", "list", "remove", "status"])
    p.add_argument("id", nargs="?", help="remove: the endpoint's id")
    p.add_argument("--url", help="add: where to POST (http or https)")
    p.add_argument("--types", help=f"add: trigger types, comma-separated ({', '.join(TRIGGER_KINDS)}"
                   ", or all)")
    p.add_argument("--secret", help="add: the signing secret (default: a generated one)")
    p.add_argument("--from-beginning", action="store_true",
                   help="add: also deliver the triggers already on the topics")
    p.add_argument("--format", choices=FORMATS, default="table", help="list, status: output")
    p.set_defaults(func=run)
