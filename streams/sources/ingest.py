"""``shopstream ingest``: a file straight into ClickHouse, without Kafka.

The same validation and the same writer as the worker: JSON lines, a flat CSV
(the flat envelope's columns) or the REES46 clickstream CSV. Invalid lines go
to a dead-letter file with their reasons. messageIds are deduplicated within
the run, and against what ClickHouse already holds: an event (or its order lines) already
stored is not written again, so a file ingested twice, or one that overlaps an earlier one,
adds only what is new, and the rollups count every event once. Every batch also carries a
token derived from the file's content, so a batch written in part before a failure is
completed, not doubled, by the next run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from models.deadletters import dead_letter
from models.serde import dumps
from models.validation import (
    Rules,
    ValidationResult,
    dedupe_id,
    validate_bytes,
    validate_line,
    validate_obj,
)
from sinks.rows import rows_for, user_rows
from sinks.writer import EVENTS, ORDER_ITEMS, Batch, ClickHouseWriter
from streams.sources.files import csv_rows, rees46_objects, undecodable
from streams.sources.lines import read_lines

FORMATS = ("jsonl", "csv", "rees46")


@dataclass
class IngestSummary:
    lines: int = 0
    events: int = 0
    order_items: int = 0
    invalid: int = 0
    duplicates: int = 0
    batches: int = 0
    erased: int = 0  # events of erased people left out (the suppression list)
    stored: int = 0  # events ClickHouse already held (written before): not written again


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:20]


def validated_records(stream: BinaryIO, fmt: str, rules: Rules,
                      now: Callable[[], datetime]) -> Iterator[tuple[int, bytes, ValidationResult]]:
    """``(line number, the bytes a dead letter keeps, verdict)`` per line or row of ``fmt``."""
    if fmt == "jsonl":
        for number, line, too_long in read_lines(stream, rules.max_event_bytes):
            yield number, line, validate_line(line, too_long, rules, now())
    elif fmt == "rees46":
        for number, obj in rees46_objects(stream):
            if isinstance(obj, bytes):  # not UTF-8
                yield number, obj, validate_bytes(obj, rules, now())
            else:
                yield number, dumps(obj), validate_obj(obj, rules, now())
    else:  # a CSV of the flat envelope's columns
        for number, row in csv_rows(stream):
            raw = undecodable(row)
            if raw is not None:
                yield number, raw, validate_bytes(raw, rules, now())
                continue
            obj = {k: v for k, v in row.items() if v not in (None, "")}
            yield number, dumps(obj), validate_obj(obj, rules, now())


class _Pending:
    """The events of the next batch, with their order lines and ``users`` rows."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.items: list[tuple[Any, ...]] = []
        self.users: list[tuple[Any, ...]] = []
        self.first_line = self.last_line = 0

    def add(self, line: int, event: dict[str, Any]) -> int:
        """Add an event (read at ``line``); returns how many order lines it has."""
        row, items = rows_for(event)
        if not self.events:
            self.first_line = line
        self.last_line = line
        self.events.append(row)
        self.items.extend(items)
        self.users.extend(user_rows(event))
        return len(items)

    def batch(self, writer: ClickHouseWriter, token: str, summary: IngestSummary) -> Batch | None:
        """What of it ClickHouse does not hold yet, as a batch (None: nothing), and start
        the next. Each table is asked on its own: a run that failed between two inserts
        left events without their lines. (``users`` rows go as they are: that table keeps
        the latest row of a user and feeds no count.)"""
        stored = writer.stored(EVENTS, self.events)
        lines_stored = writer.stored(ORDER_ITEMS, self.items)
        summary.stored += len(stored)
        batch = Batch(token, [row for row in self.events if (row[0], row[1]) not in stored],
                      [row for row in self.items if (row[0], row[1]) not in lines_stored],
                      self.users)
        self.clear()
        return batch if batch.events or batch.items or batch.users else None


def ingest(
    path: Path,
    fmt: str,
    writer: ClickHouseWriter,
    rules: Rules,
    dead_letters: Path,
    batch_rows: int = 10_000,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[int], None] = lambda n: None,
    erased: Callable[[dict[str, Any]], bool] | None = None,
) -> IngestSummary:
    """``erased``: whether a canonical event names an erased person (the suppression list,
    as the validation stage checks it); such events are left out and counted."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    digest = file_digest(path)
    summary = IngestSummary()
    seen: set[str] = set()
    pending = _Pending()

    def flush() -> None:
        # a batch's token names the file and its lines: the same lines again (a run after a
        # failure) dedupe, other lines never do, whatever the batch size of either run
        batch = pending.batch(writer, f"ingest:{digest}:{pending.first_line}-{pending.last_line}",
                              summary)
        if batch is not None:
            writer.write(batch)
            summary.batches += 1

    with path.open("rb") as source, dead_letters.open("wb") as dlq:
        for number, raw, result in validated_records(source, fmt, rules, now):
            summary.lines += 1
            progress(1)
            canonical = result.canonical
            if canonical is None:
                summary.invalid += 1
                dlq.write(dead_letter(raw, result.issues, topic=f"file:{path}", partition=0,
                                      offset=number, key=None, failed_at=now()) + b"\n")
                continue
            if erased is not None and erased(canonical):
                summary.erased += 1
                continue
            remembered = dedupe_id(canonical["tenant"], canonical["messageId"],
                                   rules.default_tenant)
            if remembered in seen:
                summary.duplicates += 1
                continue
            seen.add(remembered)
            items = pending.add(number, orjson.loads(dumps(canonical)))
            summary.events += 1
            summary.order_items += items
            if len(pending.events) >= batch_rows:
                flush()
        flush()
    return summary
