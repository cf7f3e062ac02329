"""The one way to reach ClickHouse: clickhouse-connect, from ``CLICKHOUSE_URL``.

``chdb:///path`` runs the ClickHouse engine in-process (chDB). One process owns a
chDB path: in embedded mode the worker owns it and serves analysts over HTTP.
``http(s)://user:pass@host:port/db`` is a server; any number of readers. With a
``cluster`` (``SHOPSTREAM_CLICKHOUSE_CLUSTER``) the database is created on every node and
the session carries :data:`sinks.schema.cluster.CLUSTER_SESSION_SETTINGS`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from clickhouse_connect.driver.exceptions import OperationalError

from sinks.errors import ClickHouseError, ClickHouseUnavailable
from sinks.schema.cluster import CLUSTER_SESSION_SETTINGS

log = logging.getLogger(__name__)


def is_embedded(url: str) -> bool:
    return url.startswith("chdb://")


def chdb_path(url: str) -> Path:
    return Path(urlparse(url).path)


def load_engine(url: str) -> None:
    """Load the embedded engine now, if ``url`` names one. chDB's import moves the whole
    process into its package directory while it loads its library (``os.chdir``), so a
    relative path used by another thread meanwhile (``data/worker.json``) points there: a
    process with threads loads it before starting them."""
    if is_embedded(url):
        import chdb  # noqa: F401  # (the import is the point)


def connect(url: str, database: str, create: bool = True, cluster: str | None = None,
            **settings: Any) -> Client:
    """A client on ``database`` (created when missing, unless ``create`` is false; on every
    node of ``cluster`` when one is named)."""
    if cluster is not None:
        if is_embedded(url):
            raise ClickHouseError(f"SHOPSTREAM_CLICKHOUSE_CLUSTER={cluster} needs a ClickHouse "
                                  "server: set CLICKHOUSE_URL to http(s)://user:pass@host:port/db")
        settings = {**CLUSTER_SESSION_SETTINGS, **settings}
    try:
        if is_embedded(url):
            path = chdb_path(url)
            path.mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(dsn=f"chdb://{path}", settings=settings)
        else:
            client = clickhouse_connect.get_client(dsn=url, settings=settings)
        url_database = urlparse(url).path.strip("/") if not is_embedded(url) else ""
        database = url_database or database
        if create:
            on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
            client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`{on_cluster}")
        client.database = database
        return client
    except OperationalError as exc:
        raise ClickHouseUnavailable(f"cannot reach ClickHouse at {redact(url)}: {exc}") from exc
    except DriverError as exc:
        raise ClickHouseError(f"ClickHouse at {redact(url)} refused the connection: {exc}") from exc


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
