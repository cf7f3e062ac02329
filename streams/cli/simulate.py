"""``shopstream simulate``: the simulator's edge (wall-clock pacing, Kafka or a file)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from models.settings import Settings
from streams.cli.progress import progress
from streams.sources.simulator import SimConfig, SimEvent, simulate


def config_from(args: argparse.Namespace, settings: Settings) -> SimConfig:
    start = (datetime.fromisoformat(args.start) if args.start else datetime.now(UTC))
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return SimConfig(
        seed=args.seed, rate=args.rate, users=args.users, products=args.products,
        malformed=args.malformed, duplicates=args.duplicates, bots=args.bots,
        tenant=args.tenant, start=start,
    )


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
        sink = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
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
