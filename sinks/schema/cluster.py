"""The same schema on a ClickHouse cluster (``SHOPSTREAM_CLICKHOUSE_CLUSTER``).

Each single-node statement of :data:`sinks.schema.MIGRATIONS` is rendered for a cluster
here, so both modes come from one definition:

- a table ``t`` becomes ``t_local``, a ``Replicated*MergeTree`` created ``ON CLUSTER``
  (Keeper path ``/clickhouse/tables/{shard}/{database}/{table}``, replica ``{replica}``:
  the server's macros), keeping the replicated insert-deduplication log
  (:data:`REPLICATED_DEDUP`) in place of the single-node one; and ``t`` becomes a
  ``Distributed`` table over every shard's ``t_local``, so readers and writers keep using
  the names they use on one server;
- a materialized view reads and writes the *local* tables: it fires on the replica that
  received an insert, and its rows replicate like any other part;
- plain views are created ``ON CLUSTER`` over the Distributed tables;
- dropping a table drops both names; adding columns (``ADD COLUMN IF NOT EXISTS``) adds them
  to both.

Tables the application writes (the sink, the recommender, the live funnel, the migration
log, ...) have a deterministic sharding key: :data:`SHARDING_KEYS`, else a hash of the
table's sort key. The same rows go to the same shard on every retry, which is what keeps the
per-shard deduplication exact, and rows with one sort key meet on one shard (``FINAL`` on a
ReplacingMergeTree stays exact). The rollups are written only by their views on each shard;
their Distributed tables have no sharding key, so ClickHouse refuses an insert into them on
a cluster of several shards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sinks.schema.types import DEDUP, Migration

LOCAL = "_local"
REPLICA_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
# every insert's token (or block hash) is remembered in Keeper per table and shard: the last
# 10,000 blocks, for up to a week (a sink replaying a batch after an outage is still caught)
REPLICATED_DEDUP = ("replicated_deduplication_window = 10000, "
                    "replicated_deduplication_window_seconds = 604800")
# where a table's sort key is not the best sharding key: a shopper's events and order lines
# together (sessions are per shopper), a partition's batch log together
SHARDING_KEYS = {
    "events": "cityHash64(tenant, user_key)",
    "order_items": "cityHash64(tenant, user_key)",
    "sink_batches": "cityHash64(consumer_group, topic, partition)",
}
# the session settings that make the above hold for the application's inserts (see
# sinks/connection.py): a Distributed insert returns only once every shard's replica has
# written its rows (so a failure is seen and retried with the same token, instead of rows
# waiting in a local spool), and only once a majority of each shard's replicas has them
CLUSTER_SESSION_SETTINGS: dict[str, str | int] = {
    "insert_distributed_sync": 1,
    "insert_quorum": "auto",
}

_CREATE_TABLE = re.compile(r"^(\s*CREATE TABLE IF NOT EXISTS )(\w+)( \()")
_ENGINE = re.compile(r"^ENGINE = (\w*MergeTree)(?:\((.*)\))?$", re.M)
_CREATE_MV = re.compile(r"^(\s*CREATE MATERIALIZED VIEW IF NOT EXISTS )(\w+) TO (\w+)( AS\b)")
_CREATE_VIEW = re.compile(r"^(\s*CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?)(\w+)( AS\b)")
_ADD_COLUMNS = re.compile(r"^\s*ALTER TABLE (\w+) (ADD COLUMN IF NOT EXISTS .*)$", re.S)
_DROP = re.compile(r"^\s*DROP (TABLE|VIEW) IF EXISTS (\w+)\s*$")
_READ = re.compile(r"\b(FROM|JOIN)\s+(\w+)\b")
_ORDER_BY = re.compile(r"^ORDER BY \(?(.*?)\)?$", re.M)


class UnsupportedStatement(ValueError):
    """A schema statement this module does not know how to run on a cluster."""


@dataclass(frozen=True)
class Layout:
    """What the rendering needs to know of the whole schema."""

    tables: frozenset[str]    # created by CREATE TABLE: each gets a local twin
    rollups: frozenset[str]   # written only by materialized views: no sharding key


def layout_of(migrations: tuple[Migration, ...], *extra: str) -> Layout:
    """The layout of every table the migrations (and ``extra`` statements) create."""
    statements = tuple(s for m in migrations for s in m.statements) + extra
    return Layout(frozenset(m.group(2) for s in statements if (m := _CREATE_TABLE.match(s))),
                  frozenset(m.group(3) for s in statements if (m := _CREATE_MV.match(s))))


def sharding_key(name: str, statement: str, layout: Layout) -> str | None:
    """How rows of table ``name`` are spread over shards (None: written by views only)."""
    if name in layout.rollups:
        return None
    if name in SHARDING_KEYS:
        return SHARDING_KEYS[name]
    order = _ORDER_BY.search(statement)
    if order is None:
        raise UnsupportedStatement(f"table {name}: no ORDER BY to shard by")
    return f"cityHash64({order.group(1)})"


def for_cluster(statement: str, cluster: str, database: str,
                layout: Layout) -> tuple[str, ...]:
    """``statement`` (single-node DDL) as the statements that do the same on ``cluster``."""
    on = f" ON CLUSTER {cluster}"
    tables = layout.tables
    if match := _CREATE_TABLE.match(statement):
        return _table(statement, match, on, cluster, database, layout)
    if match := _CREATE_MV.match(statement):
        head, name, target, tail = match.groups()
        local_target = target + LOCAL if target in tables else target
        body = _READ.sub(lambda m: _local_read(m, tables), statement[match.end():])
        return (f"{head}{name}{on} TO {local_target}{tail}{body}",)
    if match := _CREATE_VIEW.match(statement):
        return (f"{match.group(1)}{match.group(2)}{on}{match.group(3)}{statement[match.end():]}",)
    if (match := _ADD_COLUMNS.match(statement)) and match.group(1) in tables:
        name, change = match.groups()  # the columns on every replica and on the Distributed table
        return (f"ALTER TABLE {name}{LOCAL}{on} {change}", f"ALTER TABLE {name}{on} {change}")
    if match := _DROP.match(statement):
        kind, name = match.groups()
        if kind == "TABLE" and name in tables:
            return (f"DROP TABLE IF EXISTS {name}{on} SYNC",
                    f"DROP TABLE IF EXISTS {name}{LOCAL}{on} SYNC")
        return (f"DROP {kind} IF EXISTS {name}{on} SYNC",)
    raise UnsupportedStatement(f"no cluster form for: {statement.strip()[:80]}")


def _table(statement: str, match: re.Match[str], on: str, cluster: str, database: str,
           layout: Layout) -> tuple[str, ...]:
    name = match.group(2)
    engine = _ENGINE.search(statement)
    if engine is None:
        raise UnsupportedStatement(f"table {name}: no MergeTree engine line")
    kind, args = engine.group(1), engine.group(2)
    replicated = f"ENGINE = Replicated{kind}({REPLICA_PATH}{', ' + args if args else ''})"
    local = (statement[:match.start(2)] + name + LOCAL + on + match.group(3)
             + statement[match.end():engine.start()] + replicated + statement[engine.end():])
    if DEDUP in local:
        local = local.replace(DEDUP, REPLICATED_DEDUP)
    else:
        local = local.rstrip() + f"\nSETTINGS {REPLICATED_DEDUP}\n"
    key = sharding_key(name, statement, layout)
    distributed = (f"\nCREATE TABLE IF NOT EXISTS {name}{on} AS {name}{LOCAL}\n"
                   f"ENGINE = Distributed('{cluster}', '{database}', '{name}{LOCAL}'"
                   f"{', ' + key if key else ''})\n")
    return local, distributed


def _local_read(match: re.Match[str], tables: frozenset[str]) -> str:
    keyword, name = match.groups()
    return f"{keyword} {name}{LOCAL}" if name in tables else match.group(0)


def render(migration: Migration, cluster: str | None, database: str,
           layout: Layout) -> tuple[str, ...]:
    """The statements that apply ``migration``: as defined on one server or embedded
    (``cluster`` None), else their cluster form."""
    if cluster is None:
        return migration.statements
    return tuple(out for statement in migration.statements
                 for out in for_cluster(statement, cluster, database, layout))
