"""``shopstream simulate``: the simulator's edge (wall-clock pacing, Kafka or a file)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from models.errors import ShopstreamError
from models.settings import Settings, load_settings
from streams.cli.command import (
    non_negative_int,
    non_negative_number,
    positive_int,
    positive_number,
    share_arg,
    tenant_arg,
    time_arg,
)
from streams.cli.progress import progress
from streams.sources.simulator import SimConfig, SimEvent, simulate


def config_from(args: argparse.Namespace, settings: Settings) -> SimConfig:
    """The simulator's configuration from the parsed options (each checked by its type)."""
    return SimConfig(
        seed=args.seed, rate=args.rate, users=args.users, products=args.products,
        malformed=args.malformed, duplicates=args.duplicates, bots=args.bots,
        tenant=args.tenant, start=args.start or datetime.now(UTC),
    )


def open_out(path: str) -> BinaryIO:
    """``--out FILE`` opened for writing; a file that cannot be is one plain error."""
    try:
        return open(path, "wb")
    except OSError as exc:
        parent = Path(path).parent
        if isinstance(exc, FileNotFoundError) and not parent.is_dir():
            raise ShopstreamError(f"cannot write {path}: the directory {parent} does not exist") \
                from None
        raise ShopstreamError(f"cannot write {path}: {exc.strerror}") from None


def wait_until(deadline: float, tracker: object | None = None) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``, serving deliveries meanwhile."""
    while (ahead := deadline - time.monotonic()) > 0:
        if tracker is not None:
            tracker.flush(0)  # type: ignore[attr-defined]
        time.sleep(min(ahead, 0.2))


def send_events(tracker: Any, events: Iterable[SimEvent],
                rate: float | None = None) -> Iterator[SimEvent]:
    """Send each event keyed by its shopper, paced to ``rate`` per second of wall clock
    when one is given; yields each event once it is sent."""
    started = time.monotonic()
    for i, event in enumerate(events):
        if rate:
            wait_until(started + i / rate, tracker)
        tracker.send_raw(event.to_bytes(), event.key.encode() if event.key else None)
        yield event


def run_simulation(args: argparse.Namespace, settings: Settings) -> int:
    config = config_from(args, settings)
    count = args.count if args.count is not None else int(args.rate * args.duration)
    kinds: Counter[str] = Counter()
    pace = not args.fast and args.out is None
    if args.out is not None:
        sink = sys.stdout.buffer if args.out == "-" else open_out(args.out)
        with progress("simulating") as bar:
            for event in simulate(config, count):
                sink.write(event.to_bytes() + b"\n")
                kinds[event.kind] += 1
                bar.advance()
        sink.flush()
        if sink is not sys.stdout.buffer:
            sink.close()
    else:
        from streams.kafka.admin import topics_for_producing
        from streams.kafka.discovery import require_bootstrap
        from streams.sdk.tracker import Tracker

        bootstrap = require_bootstrap(settings)
        topics_for_producing(settings, bootstrap)
        with Tracker(bootstrap, settings.topics.raw) as tracker, progress("simulating") as bar:
            rate = config.rate if pace else None
            for event in send_events(tracker, simulate(config, count), rate):
                kinds[event.kind] += 1
                bar.advance()
        if tracker.failed:
            print(f"{tracker.failed} deliveries failed", file=sys.stderr)
            return 1
    summary = ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items()))
    print(f"simulated {sum(kinds.values())} events ({summary})", file=sys.stderr)
    return 0


def command(args: argparse.Namespace) -> int:
    overrides = {"kafka_bootstrap": args.bootstrap} if args.bootstrap else {}
    return run_simulation(args, load_settings(**overrides))


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("simulate", "generate shop traffic (to Kafka, or to a file with --out)")
    p.add_argument("--rate", type=positive_number, default=50.0,
                   help="events/s of event time, > 0 (default 50)")
    p.add_argument("--duration", type=non_negative_number, default=60.0,
                   help="seconds of traffic (default 60)")
    p.add_argument("--count", type=non_negative_int,
                   help="events (overrides --duration); resends come on top")
    p.add_argument("--seed", type=int, default=7, help="same seed, same traffic (default 7)")
    p.add_argument("--users", type=positive_int, default=2_000, help="shoppers, >= 1 (default 2000)")
    p.add_argument("--products", type=positive_int, default=500, help="products, >= 1 (default 500)")
    p.add_argument("--malformed", type=share_arg, default=0.02,
                   help="share malformed, 0 to 1 (default 0.02)")
    p.add_argument("--duplicates", type=share_arg, default=0.01,
                   help="share re-sent, 0 to 1 (default 0.01)")
    p.add_argument("--bots", type=share_arg, default=0.0,
                   help="share of crawlers' sessions, 0 to 1 (default 0)")
    p.add_argument("--tenant", type=tenant_arg, help="tenant to stamp on events")
    p.add_argument("--start", type=time_arg,
                   help="event time of the first event (ISO 8601; default: now)")
    p.add_argument("--out", help="write JSON lines here instead of producing ('-' = stdout)")
    p.add_argument("--fast", action="store_true", help="do not pace to the wall clock")
    p.set_defaults(func=command)
