"""``shopstream fx load FILE`` and ``fx list``: exchange rates (rules: models/currency.py).

``load`` checks the whole file first (a bad row stops it with its line number; nothing is
loaded), then writes the rates to ClickHouse (``fx_rates``) and to the compacted rates topic
that every worker's live stage follows. A rate is keyed by its date and currency, so loading
a file again (or a corrected one) replaces rates and never duplicates them.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from models.currency import FxRate, InvalidRate, currency_code, parse_rate_row
from models.errors import ShopstreamError
from models.settings import Settings, load_settings
from streams.cli.progress import progress

HEADER = ["date", "currency", "rate"]
ERRORS_SHOWN = 20


def read_rates(path: Path, base: str, advance: Callable[[], None] = lambda: None) -> list[FxRate]:
    """Every rate of a CSV file (header ``date,currency,rate``); ShopstreamError listing the
    bad rows by line number when any is bad."""
    errors: list[str] = []
    rates: dict[bytes, FxRate] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, fields in _rows(handle):
                advance()
                if line == 1:
                    if [f.strip().lower() for f in fields] != HEADER:
                        errors.append("line 1: the header must be date,currency,rate, got "
                                      f"{','.join(fields)!r}")
                    continue
                if not any(f.strip() for f in fields):
                    continue
                try:
                    rate = parse_rate_row(fields, base)
                except InvalidRate as exc:
                    errors.append(f"line {line}: {exc}")
                    continue
                known = rates.get(rate.key)
                if known is not None and known.rate != rate.rate:
                    errors.append(f"line {line}: {rate.currency} on {rate.day} is already "
                                  f"given as {known.rate}, here {rate.rate}")
                rates[rate.key] = rate
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ShopstreamError(f"cannot read {path}: {exc}") from exc
    if errors:
        shown = "\n  ".join(errors[:ERRORS_SHOWN])
        more = f"\n  ... and {len(errors) - ERRORS_SHOWN} more" if len(errors) > ERRORS_SHOWN else ""
        raise ShopstreamError(f"{len(errors)} bad row(s) in {path}, nothing loaded:\n  {shown}{more}")
    if not rates:
        raise ShopstreamError(f"{path} holds no rates (expected a header date,currency,rate "
                              "and a row per rate)")
    return sorted(rates.values())


def _rows(handle: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(handle)
    for fields in reader:
        yield reader.line_num, fields


def publish(settings: Settings, bootstrap: str, rates: list[FxRate], timeout: float = 60.0) -> None:
    """Every rate to the compacted rates topic, acknowledged by Kafka before this returns."""
    from confluent_kafka import Producer

    from streams.kafka.admin import ensure_topics

    ensure_topics(settings, bootstrap)
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "message.timeout.ms": int(timeout * 1000),
                         "linger.ms": 20})
    for rate in rates:
        while True:
            try:
                producer.produce(settings.topics.fx_rates, rate.to_json(), rate.key,
                                 on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
                break
            except BufferError:
                producer.poll(0.5)
        producer.poll(0)
    if producer.flush(timeout + 5) or errors:
        raise ShopstreamError(f"the rates were not all stored in {settings.topics.fx_rates}: "
                              f"{errors[0] if errors else 'Kafka did not answer'}; load the "
                              "file again")


def load(settings: Settings, path: Path) -> str:
    from sinks.database import open_database
    from sinks.fx_rates import write_rates
    from streams.cli.queries import owning_worker
    from streams.kafka.discovery import configured_bootstrap

    with progress(f"reading {path.name}") as bar:
        rates = read_rates(path, settings.fx_base_currency, bar.advance)
    if owning_worker(settings):
        raise ShopstreamError(
            f"a worker owns the embedded ClickHouse in {settings.data_dir}; stop it before "
            "`fx load` (or use a ClickHouse server), then start it again")
    write_rates(open_database(settings), rates)
    where = "ClickHouse (fx_rates)"
    bootstrap = configured_bootstrap(settings)
    if bootstrap:
        publish(settings, bootstrap, rates)
        where += f" and {settings.topics.fx_rates}"
    else:
        print("no Kafka broker (KAFKA_BOOTSTRAP): the rates are in ClickHouse only; live "
              "figures will not see them until they are loaded with a broker", file=sys.stderr)
    currencies = sorted({r.currency for r in rates})
    return (f"loaded {len(rates)} rate(s) of {len(currencies)} currencies ({', '.join(currencies)}), "
            f"{rates[0].day} to {max(r.day for r in rates)}, into {where}")


def command(args: argparse.Namespace) -> int:
    from sinks.fx_rates import LIST_SQL
    from streams.cli.output import write_table
    from streams.cli.queries import query_backend

    settings = load_settings()
    if args.action == "load":
        if not args.file:
            raise ShopstreamError("fx load needs a FILE (CSV: date,currency,rate)")
        print(load(settings, Path(args.file)), file=sys.stderr)
        return 0
    try:
        currency = currency_code(args.currency) if args.currency else ""
    except InvalidRate as exc:
        raise ShopstreamError(str(exc)) from exc
    write_table(query_backend(settings).sql(LIST_SQL.replace("{currency:String}", f"'{currency}'")),
                args.format)
    return 0


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("fx", "exchange rates: load a CSV file (date,currency,rate), or list them")
    p.add_argument("action", choices=["load", "list"])
    p.add_argument("file", nargs="?", help="load: the CSV file")
    p.add_argument("--currency", help="list: only this currency's rates")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=command)
