"""Apply the schema migrations, recording each in ``schema_migrations``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from sinks.schema import MIGRATIONS, Migration
from sinks.schema.cluster import LOCAL, for_cluster, layout_of, render
from sinks.schema.retention import Retention, current_ttl, retention_statement, wanted_ttls

log = logging.getLogger(__name__)

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     UInt32,
    name        String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


def migrations_table(cluster: str | None, database: str) -> tuple[str, ...]:
    """The statements that create the migration log (on one server, or on ``cluster``)."""
    if cluster is None:
        return (MIGRATIONS_TABLE,)
    return for_cluster(MIGRATIONS_TABLE, cluster, database, layout_of((), MIGRATIONS_TABLE))


def applied_versions(client: Client, cluster: str | None = None) -> set[int]:
    for statement in migrations_table(cluster, client.database or "default"):
        client.command(statement)
    return {int(row[0]) for row in client.query("SELECT version FROM schema_migrations").result_rows}


def migrate(
    client: Client,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    progress: Callable[[str], None] = log.info,
    cluster: str | None = None,
) -> list[Migration]:
    """Apply what is missing, in order; returns the migrations applied now. With
    ``cluster``, each statement runs in its cluster form (:mod:`sinks.schema.cluster`)."""
    done = applied_versions(client, cluster)
    layout = layout_of((*MIGRATIONS, *migrations), MIGRATIONS_TABLE)
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        progress(f"applying migration {migration.version}: {migration.name}")
        for statement in render(migration, cluster, client.database or "default", layout):
            client.command(statement)
        client.insert("schema_migrations", [[migration.version, migration.name]],
                      column_names=["version", "name"])
        applied.append(migration)
    return applied


def apply_retention(client: Client, retention: Retention, cluster: str | None = None,
                    progress: Callable[[str], None] = log.info) -> list[str]:
    """Bring every managed table's TTL to ``retention`` (:mod:`sinks.schema.retention`);
    returns the statements run (none when the TTLs already match). On a cluster the TTL
    belongs to each replica's local table."""
    suffix = LOCAL if cluster else ""
    rows = client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()").result_rows
    engines: dict[str, str] = {str(name): str(engine) for name, engine in rows}
    done = []
    for table, wanted in wanted_ttls(retention).items():
        name = table + suffix
        if name not in engines:
            continue
        statement = retention_statement(name, wanted, current_ttl(engines[name]),
                                        f" ON CLUSTER {cluster}" if cluster else "")
        if statement is not None:
            progress(f"retention: {statement}")
            client.command(statement)
            done.append(statement)
    return done
