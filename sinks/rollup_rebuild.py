"""Rebuilding a rollup kept by materialized views from the raw rows that remain.

Each view's own SELECT (``system.tables.as_select``, as the server stored it) is run over its
source table, limited to the partitions asked for, into a staging table made like the
rollup (``CREATE TABLE ... AS``); then each of those partitions of the rollup is swapped
for the staged one at once (``REPLACE PARTITION``), or dropped when nothing remains for it.
Inserts into the staging table skip block deduplication, so a rebuild is never mistaken for
an insert already made.

Rows the sink writes into a rebuilt partition while the rebuild runs are replaced with it:
rebuild when nothing is being written (the embedded database's worker is stopped for it).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from sinks.catalogue import Feed, TableInfo
from sinks.errors import ClickHouseError

STAGING_SUFFIX = "__rebuild"
WHOLE = "all"  # the partition id of an unpartitioned table


def sourced(select: str, database: str, source: str, partitions: set[str] | None) -> str:
    """A view's SELECT reading only ``partitions`` of its source (all with None)."""
    name = lambda n: f"(?:`{re.escape(n)}`|{re.escape(n)})"  # noqa: E731 - a local helper
    pattern = re.compile(rf"\bFROM\s+{name(database)}\.{name(source)}(?![\w$`])")
    if len(pattern.findall(select)) != 1:
        raise ClickHouseError(f"cannot rebuild from the view's SELECT: it does not read "
                              f"{database}.{source} exactly once")
    if partitions is None:
        return select
    ids = ", ".join("'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in sorted(partitions))
    return pattern.sub(f"FROM (SELECT * FROM `{database}`.`{source}` WHERE _partition_id IN ({ids}))",
                       select)


def _partition_ids(client: Client, table: str) -> set[str]:
    return {str(row[0]) for row in client.query(
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() "
        "AND table = {table:String} AND active", parameters={"table": table}).result_rows}


def rebuild(client: Client, target: TableInfo, feeds: list[Feed], partitions: set[str] | None,
            progress: Callable[[str], None]) -> set[str]:
    """Rebuild ``partitions`` of ``target`` (every partition with None) from its feeds'
    sources; returns the partition ids rebuilt."""
    database = client.database or "default"
    staging = target.name + STAGING_SUFFIX
    client.command(f"DROP TABLE IF EXISTS `{staging}`")
    client.command(f"CREATE TABLE `{staging}` AS `{target.name}`")
    try:
        for feed in feeds:
            select = sourced(feed.view.as_select, database, feed.source.name,
                             None if partitions is None or not target.partition_key else partitions)
            described = [str(row[0]) for row in client.query(f"DESCRIBE ({select})").result_rows]
            columns = ", ".join(f"`{c}`" for c in described if c in target.columns)
            client.command(f"INSERT INTO `{staging}` ({columns}) SELECT {columns} FROM ({select})",
                           settings={"insert_deduplicate": 0})
        staged = _partition_ids(client, staging)
        if not target.partition_key:
            wanted = {WHOLE}
        elif partitions is None:
            wanted = _partition_ids(client, target.name) | staged
        else:
            wanted = set(partitions)
        for partition in sorted(wanted):
            if partition in staged:
                client.command(f"ALTER TABLE `{target.name}` REPLACE PARTITION ID '{partition}' "
                               f"FROM `{staging}`")
            else:
                client.command(f"ALTER TABLE `{target.name}` DROP PARTITION ID '{partition}'")
        progress(f"{target.name}: rebuilt partition(s) {', '.join(sorted(wanted)) or '(none)'} "
                 f"from {', '.join(sorted({f.source.name for f in feeds}))}")
        return wanted
    finally:
        client.command(f"DROP TABLE IF EXISTS `{staging}`")
