"""The one way to reach ClickHouse: clickhouse-connect, from ``CLICKHOUSE_URL``.

``chdb:///path`` runs the ClickHouse engine in-process (chDB). One process owns a
chDB path: in embedded mode the worker owns it and serves analysts over HTTP.
``http(s)://user:pass@host:port/db`` is a server; any number of readers.
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

log = logging.getLogger(__name__)


def is_embedded(url: str) -> bool:
    return url.startswith("chdb://")


def chdb_path(url: str) -> Path:
    return Path(urlparse(url).path)


def connect(url: str, database: str, create: bool = True, **settings: Any) -> Client:
    """A client on ``database`` (created when missing, unless ``create`` is false)."""
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
            client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
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
