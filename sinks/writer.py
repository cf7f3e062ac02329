"""Batched, idempotent inserts: events and order items, triggers, dead letters.

A batch carries a deterministic ``token``; each insert is sent with
``insert_deduplication_token`` = token + table, so the same batch written twice
(a replay after a crash, a retry after a timeout) lands once, in the raw tables
and in every materialized view fed by them.

What a batch holds is said by a :class:`RowSource`: the tables it writes
(:class:`Target`) and the pure function that turns one consumed record into rows for
each of them. :data:`EVENT_ROWS` is the canonical events' source; the sink takes any.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from sinks import metrics
from sinks.errors import ClickHouseUnavailable, RowsRefused
from sinks.rows import EVENT_COLUMNS, ITEM_COLUMNS, USER_COLUMNS, rows_for, user_rows

log = logging.getLogger(__name__)

INSERT_SETTINGS = {
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    # a batch of old traffic may span many months (one partition each): not a reason to refuse
    "max_partitions_per_insert_block": 0,
}
# ClickHouse error codes that say "not now" rather than "never": overload, timeouts, network,
# read-only replicas, memory. Any other refusal of an insert will recur for the same rows.
TRANSIENT_CODES = {3, 159, 164, 202, 203, 209, 210, 241, 242, 252, 285, 319, 425, 999, 1000}
# codes about the database, not the rows: a table, column or database missing, a user or
# its rights. The same insert works once an operator fixes it: the sink waits (blocked on
# /health, with the error), it does not dead-letter every row meanwhile.
SETUP_CODES = {8, 16, 47, 60, 81, 192, 193, 194, 291, 497, 516}
_CODE = re.compile(r"Code: (\d+)")


def is_transient(exc: DatabaseError) -> bool:
    """Whether an insert that failed so is retried (the same batch, later), rather than its
    rows refused: no code, a transient one, or one about the database's setup."""
    match = _CODE.search(str(exc))
    return match is None or int(match.group(1)) in TRANSIENT_CODES | SETUP_CODES


@dataclass(frozen=True)
class Target:
    """A table a sink writes, and the columns its rows fill, in order."""

    table: str
    columns: tuple[str, ...]


EVENTS = Target("events", EVENT_COLUMNS)
ORDER_ITEMS = Target("order_items", ITEM_COLUMNS)
USERS = Target("users", USER_COLUMNS)  # identify calls' traits (migration 12)

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class RowSource:
    """What a sink writes: ``build(value, topic, partition, offset)`` turns one consumed
    record into one list of rows per target (aligned with ``targets``), or raises when the
    record is not what the source reads (the sink dead-letters it)."""

    targets: tuple[Target, ...]
    build: Callable[[bytes, str, int, int], tuple[Rows, ...]]


def _event_rows(value: bytes, topic: str, partition: int,
                offset: int) -> tuple[Rows, Rows, Rows]:
    event = orjson.loads(value)
    row, items = rows_for(event)
    return [row], items, user_rows(event)


EVENT_ROWS = RowSource((EVENTS, ORDER_ITEMS, USERS), _event_rows)


def dropping(source: RowSource, drop: Callable[[tuple[Any, ...]], bool]) -> RowSource:
    """``source``, but a record whose row of the first target ``drop`` says to leave out
    yields no row in any target (counted in ``shopstream_sink_dropped_total{table}``); the
    sink still commits past it. Injected by the worker (the suppression list of erased
    people is followed in ``streams/``, which ``sinks/`` never imports)."""
    counter = metrics.SINK_DROPPED.labels(source.targets[0].table)

    def build(value: bytes, topic: str, partition: int, offset: int) -> tuple[Rows, ...]:
        rows = source.build(value, topic, partition, offset)
        if any(drop(row) for row in rows[0]):
            counter.inc()
            return tuple([] for _ in rows)
        return rows

    return RowSource(source.targets, build)


@dataclass
class Batch:
    """Canonical events and their order lines (``ingest`` and the events sink)."""

    token: str
    events: list[tuple[Any, ...]] = field(default_factory=list)
    items: list[tuple[Any, ...]] = field(default_factory=list)
    users: list[tuple[Any, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)

    def parts(self) -> list[tuple[Target, Rows]]:
        return [(EVENTS, self.events), (ORDER_ITEMS, self.items), (USERS, self.users)]


@dataclass
class TableBatch:
    """Rows for any targets, written in the order given."""

    token: str
    tables: list[tuple[Target, Rows]]

    def __len__(self) -> int:
        return len(self.tables[0][1]) if self.tables else 0

    def parts(self) -> list[tuple[Target, Rows]]:
        return self.tables


class ClickHouseWriter:
    """Writes batches through one clickhouse-connect client (thread-safe for chDB)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._contexts: dict[str, Any] = {}

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]],
                token: str) -> None:
        if not rows:
            return
        context = self._contexts.get(table)
        if context is None:  # column types fixed once, not asked for on every insert
            context = self.client.create_insert_context(table, column_names=list(columns))
            self._contexts[table] = context
        context.data = rows
        context.settings = {**INSERT_SETTINGS, "insert_deduplication_token": f"{token}:{table}"}
        self.client.insert(context=context)

    def stored(self, target: Target, rows: Rows) -> set[tuple[str, str]]:
        """The ``(tenant, event_id)`` of ``rows`` (of ``events`` or ``order_items``) whose event
        ``target`` already holds, written by another batch: inserting them again would count
        them again in every materialized view, before the table's merges drop the copy."""
        if not rows:
            return set()
        tenant, event_id = target.columns.index("tenant"), target.columns.index("event_id")
        at = target.columns.index("event_time")
        by_tenant: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_tenant.setdefault(row[tenant], []).append(row)
        found: set[tuple[str, str]] = set()
        for name, some in by_tenant.items():
            # the days the rows fall on: what the table's key (tenant, event_time, ...) reads,
            # however the file's lines are ordered
            days = sorted({row[at].astimezone(UTC).date() for row in some})
            result = self.client.query(
                f"SELECT DISTINCT event_id FROM {target.table} WHERE tenant = {{tenant:String}} "
                "AND toDate(event_time) IN {days:Array(Date)} AND event_id IN {ids:Array(String)}",
                parameters={"tenant": name, "days": days,
                            "ids": list({row[event_id] for row in some})})
            found.update((name, str(row[0])) for row in result.result_rows)
        return found

    def write(self, batch: Batch | TableBatch) -> float:
        """Insert the batch; returns seconds taken. A failure raises ClickHouseUnavailable
        (not reached, or overloaded: retry) or RowsRefused (refused: the same rows will be
        refused again; the sink splits the batch and dead-letters the rows refused)."""
        started = time.perf_counter()
        written: list[str] = []  # (a refusal says which tables the batch did write)
        try:
            for target, rows in batch.parts():
                self._insert(target.table, target.columns, rows, batch.token)
                written.append(target.table)
        except OperationalError as exc:
            raise ClickHouseUnavailable(f"insert of batch {batch.token} failed: {exc}") from exc
        except DataError as exc:  # a value its column cannot hold, found by the client
            raise RowsRefused(f"insert of batch {batch.token} refused: {exc} "
                              f"({exc.__cause__ or 'no detail'})", tuple(written)) from exc
        except DatabaseError as exc:
            if is_transient(exc):
                raise ClickHouseUnavailable(f"insert of batch {batch.token} failed: {exc}") from exc
            raise RowsRefused(f"insert of batch {batch.token} refused: {exc}",
                              tuple(written)) from exc
        except (ValueError, TypeError, OverflowError, ArithmeticError, struct.error) as exc:
            # a value the column cannot hold, found while encoding the block
            raise RowsRefused(f"insert of batch {batch.token} refused: {exc}",
                              tuple(written)) from exc
        return time.perf_counter() - started
