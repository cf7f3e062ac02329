"""The CDNOW data that ships inside the ``lifetimes`` wheel (a development dependency): the
reference data of the BG/NBD and Gamma-Gamma papers. Read from the installed package's
files; ``lifetimes`` itself serves as the reference implementation.

``python -m tests.unit.sinks.stats.cdnow --out cdnow.jsonl`` writes the purchases as events
for ``shopstream ingest``."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import orjson

from models.ecommerce import EventName


def datasets() -> Path:
    spec = find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations, \
        "lifetimes is not installed: .venv/bin/pip install -e '.[dev]'"
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def summary() -> list[dict[str, float]]:
    """2,357 customers of the 39-week calibration, in weeks: x, t_x, T, and mean repeat spend
    (``zbar``)."""
    with (datasets() / "cdnow_customers_summary_with_transactions.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def orders(name: str = "CDNOW_master.txt") -> list[tuple[str, int, float]]:
    """``(customer, ordered_at_ms, dollars)``: the master file's 69,659 purchases by 23,570
    customers (Jan 1997 - Jun 1998), or ``CDNOW_sample.txt`` (a 1/10 sample)."""
    out = []
    for line in (datasets() / name).read_text().splitlines():
        parts = line.split()
        if parts[0] == "customer_id":
            continue
        day = parts[-3]
        at = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), tzinfo=UTC)
        out.append((parts[0], int(at.timestamp() * 1000), float(parts[-1])))
    return out


# the contract takes no time before 2000: the purchases move 28 years on, whole days kept
SHIFT = timedelta(days=10_227)  # 1997-01-01 -> 2025-01-01


def order_events(name: str = "CDNOW_master.txt") -> Iterator[dict[str, Any]]:
    """Each purchase as an Order Completed of the contract (one line: the CDs, at the
    purchase's dollars), 28 years later, for ``shopstream ingest``."""
    for i, (customer, at_ms, dollars) in enumerate(orders(name)):
        at = datetime.fromtimestamp(at_ms / 1000, UTC) + SHIFT
        amount = f"{dollars:.2f}"
        yield {"type": "track", "event": str(EventName.ORDER_COMPLETED), "userId": customer,
               "messageId": f"cdnow-{name}-{i}", "timestamp": at.isoformat(),
               "properties": {"order_id": f"cdnow-{i}", "total": amount, "currency": "USD",
                              # 80 purchases cost $0.00: a price is > 0, so they have none
                              "products": [{"product_id": "cds", "quantity": 1,
                                            **({"price": amount} if dollars > 0 else {})}]}}


def main() -> None:
    parser = argparse.ArgumentParser(description="CDNOW purchases as shopstream events")
    parser.add_argument("--sample", action="store_true", help="the 1/10 sample")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    name = "CDNOW_sample.txt" if args.sample else "CDNOW_master.txt"
    with open(args.out, "wb") as out:
        for event in order_events(name):
            out.write(orjson.dumps(event) + b"\n")


if __name__ == "__main__":
    main()
