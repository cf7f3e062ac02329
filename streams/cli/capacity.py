"""``shopstream capacity --rate N``: partitions, workers, collectors and ClickHouse inserts
for an event rate, from the figures ``make bench`` measured on this machine.

The arithmetic (:func:`plan`) is pure; reading the benchmark's JSON (:func:`read_figures`)
and printing are the edges. The model:

- a worker is one ``shopstream worker`` (its validation stage in a child process, so two
  processes on two cores). Its rate is bound by its busiest process, one core: the CPU
  time per event of that process in run 6a (the whole worker), kept below ``utilisation``;
- worker cores: the whole worker's CPU time per event (both processes, run 6a);
- collectors: the events per second one ``shopstream collector`` process had acknowledged
  in ``make bench-collector`` (its ``--json``, passed as ``--collector-bench``); without
  it, a collector process is counted as one core validating events against the contract
  (run 2 of ``make bench``), the work it would do before producing to Kafka;
- partitions: at least the default 12, and room to double the workers, in multiples of 12
  (12 shares evenly among 1, 2, 3, 4, 6 and 12 workers). Add partitions only with a new
  deployment: more partitions move shoppers, and their live state, to other partitions;
- ClickHouse: rows are the canonical events (run 6a's share of the raw ones); the sink writes
  each partition's batch at ``batch_rows`` or every ``batch_seconds``, each batch three
  inserts (``events``, ``order_items``, its ``sink_batches`` record).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from deploy.replicas import replica_warnings
from models.errors import ShopstreamError
from models.settings import load_settings
from sinks.reports import Table
from streams.cli.command import positive_int, positive_number, utilisation_arg
from streams.cli.output import write_table

DEFAULT_PARTITIONS = 12
INSERTS_PER_BATCH = 3  # events, order_items, sink_batches
BENCH_HINT = 'make bench BENCH_ARGS="--json bench.json"'
COLLECTOR_HINT = 'make bench-collector BENCH_ARGS="--json collector.json"'


@dataclass(frozen=True)
class Figures:
    """What the model needs from one ``make bench`` run."""

    worker_us_per_event: float          # CPU of a whole worker per raw event, every process (6a)
    busiest_process_us_per_event: float  # CPU of its busiest process per raw event (6a)
    canonical_share: float              # canonical events per raw event (6a's own counts)
    contract_per_core: float            # raw events one core validates per second (2)
    collector_rate: float | None = None  # events/s one collector process had acknowledged

    @property
    def collector_events_per_s(self) -> float:
        """What one collector process is planned to take, before ``utilisation``."""
        return self.collector_rate if self.collector_rate is not None else self.contract_per_core


@dataclass(frozen=True)
class Plan:
    rate: float
    partitions: int
    workers: int
    worker_cores: float
    collectors: int
    clickhouse_rows_per_s: float
    clickhouse_inserts_per_s: float


def plan(rate: float, figures: Figures, utilisation: float = 0.7, batch_rows: int = 10_000,
         batch_seconds: float = 1.0) -> Plan:
    """What ``rate`` raw events per second need, each core kept below ``utilisation``."""
    if rate <= 0:
        raise ValueError("the rate must be above 0")
    if not 0 < utilisation <= 1:
        raise ValueError("utilisation must be in (0, 1]")
    per_worker = utilisation * 1e6 / figures.busiest_process_us_per_event
    workers = math.ceil(rate / per_worker)
    partitions = max(DEFAULT_PARTITIONS,
                     DEFAULT_PARTITIONS * math.ceil(2 * workers / DEFAULT_PARTITIONS))
    rows = rate * figures.canonical_share
    batches = partitions * max(1 / batch_seconds, rows / partitions / batch_rows)
    return Plan(
        rate=rate, partitions=partitions, workers=workers,
        worker_cores=round(rate * figures.worker_us_per_event / 1e6 / utilisation, 1),
        collectors=math.ceil(rate / (figures.collector_events_per_s * utilisation)),
        clickhouse_rows_per_s=round(rows),
        clickhouse_inserts_per_s=round(batches * INSERTS_PER_BATCH),
    )


def figures_from(bench: dict[str, Any]) -> Figures:
    """The model's figures from the JSON of ``make bench BENCH_ARGS=--json`` (runs 2 and 6a)."""
    try:
        rows = {row["key"]: row for row in bench["rows"]}
        whole = bench["runs"]["6a"]
        cpu = whole["worker_cpu_s"][0]
        counters = whole["counters"]
        events = float(counters["events_in"])
        return Figures(
            worker_us_per_event=sum(cpu) / events * 1e6,
            busiest_process_us_per_event=max(cpu) / events * 1e6,
            canonical_share=float(counters["canonical_out"]) / events,
            contract_per_core=float(rows["2"]["figure"]),
        )
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ShopstreamError(
            f"the benchmark figures lack runs 2 and 6a ({type(exc).__name__}: {exc}); "
            f"measure them with `{BENCH_HINT}` (or add --only 2,6)") from exc


def collector_rate_from(bench: dict[str, Any]) -> float:
    """One collector process's acknowledged events per second, from the JSON of
    ``make bench-collector --json``."""
    try:
        rate = float(bench["collector_events_per_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ShopstreamError(f"the collector figures lack collector_events_per_s "
                              f"({type(exc).__name__}: {exc}); measure them with "
                              f"`{COLLECTOR_HINT}`") from exc
    if not rate > 0:
        raise ShopstreamError(f"the collector figures give {rate} events/s; measure them "
                              f"again with `{COLLECTOR_HINT}`")
    return rate


def _read_json(path: Path, hint: str, option: str) -> dict[str, Any]:
    try:
        bench = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ShopstreamError(f"no benchmark figures at {path}: measure this machine with "
                              f"`{hint}`, then pass {option} {path.name}") from exc
    except (OSError, ValueError) as exc:
        raise ShopstreamError(f"cannot read benchmark figures from {path}: {exc}") from exc
    if not isinstance(bench, dict):
        raise ShopstreamError(f"{path} is not the JSON of `{hint}`")
    return bench


def read_figures(path: Path, collector: Path | None = None) -> Figures:
    """The figures of ``make bench BENCH_ARGS=--json`` at ``path``, with the collector's own rate from
    ``make bench-collector --json`` at ``collector`` when given."""
    figures = figures_from(_read_json(path, BENCH_HINT, "--bench"))
    if collector is None:
        return figures
    rate = collector_rate_from(_read_json(collector, COLLECTOR_HINT, "--collector-bench"))
    return replace(figures, collector_rate=rate)


COLUMNS = ["events/s", "partitions", "workers", "worker cores", "collectors",
           "ClickHouse rows/s", "ClickHouse inserts/s"]


def run(rates: list[float], bench: Path, utilisation: float, partitions: int | None,
        fmt: str, batch_rows: int, batch_seconds: float, collector: Path | None = None) -> int:
    figures = read_figures(bench, collector)
    try:
        plans = [plan(rate, figures, utilisation, batch_rows, batch_seconds) for rate in rates]
    except ValueError as exc:
        raise ShopstreamError(str(exc)) from exc
    rows = [[int(p.rate) if p.rate.is_integer() else p.rate, *list(asdict(p).values())[1:]]
            for p in plans]
    write_table(Table(COLUMNS, rows), fmt, sys.stdout)
    print(f"figures from {bench}: a worker {figures.worker_us_per_event:.0f} us of CPU per "
          f"event, its busiest process {figures.busiest_process_us_per_event:.0f} us (run 6a); "
          f"a collector process {figures.collector_events_per_s:,.0f} events/s ("
          + (f"{collector}" if collector is not None else "estimated: contract validation on "
             f"one core, run 2; measure it with `{COLLECTOR_HINT}`") +
          f"); cores kept under {utilisation:.0%}", file=sys.stderr)
    warned = False
    for p in plans:
        for warning in replica_warnings(p.workers, partitions or p.partitions):
            print(f"warning: at {p.rate:,.0f} events/s: {warning}", file=sys.stderr)
            warned = True
    return 1 if warned else 0


def command(args: argparse.Namespace) -> int:
    settings = load_settings()
    return run(args.rate, args.bench, args.utilisation, args.partitions, args.format,
               settings.sink_batch_rows, settings.sink_batch_seconds, args.collector_bench)


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """``shopstream capacity`` on the command line (``add`` makes a sub-command)."""
    p = add("capacity", "partitions, workers, collectors and ClickHouse inserts for an event "
            f"rate, from this machine's `{BENCH_HINT}` figures")
    p.add_argument("--rate", type=positive_number, nargs="+", required=True,
                   help="raw events per second, > 0")
    p.add_argument("--bench", type=Path, default=Path("bench.json"), help="the JSON of "
                   f"{BENCH_HINT} (default: ./bench.json)")
    p.add_argument("--collector-bench", type=Path, help="the JSON of "
                   f"{COLLECTOR_HINT}: the collectors from their own measured rate (default: "
                   "estimated from the contract's rate on one core)")
    p.add_argument("--utilisation", type=utilisation_arg, default=0.7,
                   help="the share of each core to plan, above 0 and at most 1 (0.7)")
    p.add_argument("--partitions", type=positive_int, help="the topics' partition count: warn when the "
                   "workers would outnumber it")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=command)
