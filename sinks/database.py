"""Opening shopstream's database: connect, then bring the schema up to date."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from models.settings import Settings
from sinks.connection import connect
from sinks.migrations import apply_retention, migrate
from sinks.schema import Migration
from sinks.schema.retention import retention_of

log = logging.getLogger(__name__)
_migrated: set[tuple[str, str]] = set()
_lock = threading.Lock()


def bring_up_to_date(client: Client, settings: Settings,
                     progress: Callable[[str], None] = log.info) -> list[Migration]:
    """Apply the missing migrations, then the retention settings' TTLs; returns the
    migrations applied now."""
    applied = migrate(client, progress=progress, cluster=settings.clickhouse_cluster)
    apply_retention(client, retention_of(settings), settings.clickhouse_cluster, progress)
    return applied


def open_database(settings: Settings, run_migrations: bool = True) -> Client:
    """A client on the configured database, migrated once per process."""
    url = settings.resolved_clickhouse_url
    client = connect(url, settings.clickhouse_database, cluster=settings.clickhouse_cluster)
    key = (url, settings.clickhouse_database)
    if run_migrations and key not in _migrated:
        with _lock:
            if key not in _migrated:
                bring_up_to_date(client, settings)
                _migrated.add(key)
    return client
