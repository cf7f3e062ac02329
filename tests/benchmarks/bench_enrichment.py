"""The contract's throughput with enrichment on against off, in one process, same bytes.

    python tests/benchmarks/bench_enrichment.py [--events 20000] [--users 2000] [--rounds 5]

Simulated raw events (``traffic.raw_events``: 2% malformed, 1% duplicates) whose
shoppers are each given one of about 70 real browser user agents and an IPv4 address of
their own (the simulator's shoppers share 7 agents and about 2,800 addresses: a harder
case for the caches). Each round times ``models.validation.validate_bytes`` over all of
them with enrichment and the privacy rules (IP truncated, personal keys hashed: the
defaults) off and on, alternating every 250 events and counting CPU time of the process,
so that the rest of the machine's load falls on both alike: first with the caches
emptied (``cold``: every shopper's first event parses its user agent and looks up its
address, as in a new stream), then again (``warm``). Prints the median events per CPU
second of each and the ratio on/off; the acceptance bound is on/off >= 0.80.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.enrichment import _enrichment  # noqa: E402
from models.enrichment.geo import place_of  # noqa: E402
from models.enrichment.referrer import class_of_hosts, host_of  # noqa: E402
from models.enrichment.useragent import device_of  # noqa: E402
from models.privacy import PrivacyRules, truncated_ip  # noqa: E402
from models.validation import Rules, validate_bytes  # noqa: E402
from tests.benchmarks.traffic import raw_events  # noqa: E402

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v2} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v2} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.{v2} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S91{v2}B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (iPad; CPU OS 17_{v2} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v2} Mobile/15E148 Safari/604.1",
]


def agents(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(BROWSERS).format(v=rng.randrange(110, 125), v2=rng.randrange(0, 6))
            for _ in range(n)]


def public_ip(rng: random.Random) -> str:
    while True:
        first = rng.randrange(1, 224)
        if first not in (10, 100, 127, 169, 172, 192, 198, 203):
            return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def traffic(n: int, users: int, seed: int = 42) -> list[bytes]:
    """The benchmark's raw events with each shopper's own user agent and address."""
    rng = random.Random(seed)
    pool = agents(rng, 300)
    shopper: dict[str, tuple[str, str]] = {}
    out = []
    for message in raw_events(n, rate=200.0, seed=seed):
        try:
            event = orjson.loads(message.value)
        except orjson.JSONDecodeError:
            out.append(message.value)
            continue
        context = event.get("context") if isinstance(event, dict) else None
        if isinstance(context, dict):
            key = str(event.get("userId") or event.get("anonymousId") or "")
            slot = shopper.setdefault(key, (rng.choice(pool), public_ip(rng)))
            if len(shopper) > users:
                shopper.pop(next(iter(shopper)))
            event["context"] = {**context, "userAgent": slot[0], "ip": slot[1]}
        out.append(orjson.dumps(event))
    return out


def timed(lines: list[bytes], rules: Rules, now: datetime) -> float:
    """CPU seconds of this process (other processes' load stretches wall time, not this)."""
    started = time.process_time()
    for line in lines:
        validate_bytes(line, rules, now)
    return time.process_time() - started


def interleaved(lines: list[bytes], off: Rules, on: Rules, now: datetime,
                chunk: int = 250) -> tuple[float, float]:
    """Seconds for all ``lines`` with ``off`` and with ``on``, chunk by chunk in turn, so
    that whatever else the machine does slows both alike."""
    spent_off = spent_on = 0.0
    for start in range(0, len(lines), chunk):
        part = lines[start:start + chunk]
        spent_off += timed(part, off, now)
        spent_on += timed(part, on, now)
    return spent_off, spent_on


def clear_caches() -> None:
    for cached in (device_of, place_of, host_of, class_of_hosts, truncated_ip, _enrichment):
        cached.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lines = traffic(args.events, args.users)
    now = datetime.now(UTC)
    off, on = Rules(), Rules(enrich=True, privacy=PrivacyRules())
    place_of("8.8.8.8")  # the data file is read once per process, at the first lookup,
    device_of("Mozilla/5.0 (X11; Linux x86_64)")  # and so are the user-agent rules
    cold, warm = [], []
    for _ in range(args.rounds):
        clear_caches()
        cold.append(interleaved(lines, off, on, now))  # caches fill as a new stream's would
        warm.append(interleaved(lines, off, on, now))
    print(f"{len(lines)} events, {args.users} shoppers; median of {args.rounds} rounds, "
          "off and on interleaved in chunks of 250 events")
    for name, pairs in (("cold", cold), ("warm", warm)):
        spent_off = statistics.median(p[0] for p in pairs)
        spent_on = statistics.median(p[1] for p in pairs)
        print(f"  {name}: off {len(lines) / spent_off:10,.0f} events/s, on "
              f"{len(lines) / spent_on:10,.0f} events/s, on/off {spent_off / spent_on:.2f}")


if __name__ == "__main__":
    main()
