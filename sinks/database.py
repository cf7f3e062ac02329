"""Opening shopstream's database: connect, then bring the schema up to date."""

from __future__ import annotations

import threading

from clickhouse_connect.driver.client import Client

from models.settings import Settings
from sinks.connection import connect
from sinks.migrations import migrate

_migrated: set[tuple[str, str]] = set()
_lock = threading.Lock()


def open_database(settings: Settings, run_migrations: bool = True) -> Client:
    """A client on the configured database, migrated once per process."""
    url = settings.resolved_clickhouse_url
    client = connect(url, settings.clickhouse_database, cluster=settings.clickhouse_cluster)
    key = (url, settings.clickhouse_database)
    if run_migrations and key not in _migrated:
        with _lock:
            if key not in _migrated:
                migrate(client, cluster=settings.clickhouse_cluster)
                _migrated.add(key)
    return client
