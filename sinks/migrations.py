"""Apply the schema migrations, recording each in ``schema_migrations``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from sinks.schema import MIGRATIONS, Migration

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


def applied_versions(client: Client) -> set[int]:
    client.command(MIGRATIONS_TABLE)
    return {int(row[0]) for row in client.query("SELECT version FROM schema_migrations").result_rows}


def migrate(
    client: Client,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    progress: Callable[[str], None] = log.info,
) -> list[Migration]:
    """Apply what is missing, in order; returns the migrations applied now."""
    done = applied_versions(client)
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        progress(f"applying migration {migration.version}: {migration.name}")
        for statement in migration.statements:
            client.command(statement)
        client.insert("schema_migrations", [[migration.version, migration.name]],
                      column_names=["version", "name"])
        applied.append(migration)
    return applied
