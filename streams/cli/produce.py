"""``shopstream produce FILE``: a file of events (JSON lines or the REES46 CSV) to the raw
topic, keyed by device, through the producer SDK."""

from __future__ import annotations

import sys
from typing import BinaryIO

from models.settings import Settings
from streams.cli.progress import progress
from streams.kafka.admin import topics_for_producing
from streams.sdk.tracker import Tracker
from streams.sources.files import jsonl_records, rees46_records


def produce_file(source: BinaryIO, file_format: str, topic: str, tenant: str | None,
                 settings: Settings, bootstrap: str) -> int:
    """Send the events read from ``source`` to ``topic``; the exit code (1: some were not
    delivered). shopstream's topics are made first when no worker has made them yet."""
    topics_for_producing(settings, bootstrap)
    with source, Tracker(bootstrap, topic) as tracker, progress("producing") as bar:
        records = (rees46_records(source, tenant) if file_format == "rees46"
                   else jsonl_records(source, settings.max_event_bytes))
        for _number, key, value in records:
            tracker.send_raw(value, key)
            bar.advance()
        tracker.flush()
    print(f"sent {tracker.sent} events to {topic}: {tracker.delivered} delivered, "
          f"{tracker.failed} failed", file=sys.stderr)
    return 0 if tracker.failed == 0 else 1
