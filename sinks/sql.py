"""Ad-hoc, read-only SQL for analysts (``shopstream sql`` and the worker's ``/sql``)."""

from __future__ import annotations

import re
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.errors import ClickHouseError, ReadOnlyViolation
from sinks.report_types import Table, query_table

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_READ_ONLY_START = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b", re.I)
# what the statement says outside its quoted strings and names
_QUOTED = re.compile(r"\$(\w*)\$.*?\$\1\$|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`",
                     re.S)  # (heredoc strings first: $$it's$$, $tag$...$tag$)
# a SELECT ... INTO OUTFILE writes a file where the engine runs (the worker's host, with
# the embedded engine): readonly does not stop it
_INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)
# what reaches beyond the database, from the host the engine runs on: its files, other
# hosts (URLs, object stores, other databases, other ClickHouse servers) and programs. The
# embedded engine runs them on the worker's host whoever sent the query; readonly = 2 (which
# lets a query carry settings, such as a tenant's row filters) does not stop them
OUTSIDE_FUNCTIONS = (
    "file", "fileCluster", "url", "urlCluster", "s3", "s3Cluster", "gcs", "oss", "cosn",
    "azureBlobStorage", "azureBlobStorageCluster", "hdfs", "hdfsCluster", "hive", "remote",
    "remoteSecure", "cluster", "clusterAllReplicas", "mysql", "postgresql", "mongodb", "redis",
    "sqlite", "odbc", "jdbc", "executable", "input", "iceberg", "icebergS3", "icebergAzure",
    "icebergHDFS", "icebergLocal", "icebergCluster", "icebergS3Cluster", "icebergAzureCluster",
    "icebergHDFSCluster", "deltaLake", "deltaLakeS3", "deltaLakeAzure", "deltaLakeLocal",
    "deltaLakeCluster", "deltaLakeS3Cluster", "deltaLakeAzureCluster", "hudi", "hudiCluster",
    "paimon", "paimonS3", "paimonAzure", "paimonHDFS", "paimonLocal", "arrowFlight",
    "ytsaurus", "prometheusQuery", "prometheusQueryRange")
_OUTSIDE = re.compile(r"(?<![\w.])(" + "|".join(OUTSIDE_FUNCTIONS) + r")\s*\(", re.I)


def check_read_only(sql: str) -> str:
    """Return the statement to run, or raise ReadOnlyViolation with the reason."""
    statement = _COMMENTS.sub(" ", sql).strip().rstrip(";").strip()
    if not statement:
        raise ReadOnlyViolation("no query given")
    if ";" in statement:
        raise ReadOnlyViolation("one statement at a time")
    if not _READ_ONLY_START.match(statement):
        first = statement.split()[0].upper()
        raise ReadOnlyViolation(
            f"only read-only queries run here (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN), not {first}"
        )
    bare = _QUOTED.sub("''", statement)
    if _INTO_OUTFILE.search(bare):
        raise ReadOnlyViolation("INTO OUTFILE writes a file: not here (`shopstream sql "
                                "--format csv > FILE` or `shopstream export` write files)")
    outside = _OUTSIDE.search(bare)
    if outside:
        raise ReadOnlyViolation(f"{outside.group(1)}() reads from outside the database (files, "
                                "other hosts or programs where ClickHouse runs): not here; "
                                "query shopstream's tables and views")
    return statement


def run_sql(client: Client, sql: str, settings: dict[str, Any] | None = None) -> Table:
    """Run a read-only query; the server enforces it too (``readonly = 2``). ``settings``:
    more ClickHouse settings (a tenant's row filters)."""
    statement = check_read_only(sql)
    try:
        return query_table(client, statement, settings={**(settings or {}), "readonly": 2})
    except DatabaseError as exc:
        if "READONLY" in str(exc) or "Code: 164" in str(exc):
            raise ReadOnlyViolation("ClickHouse refused: the query would write") from exc
        raise ClickHouseError(str(exc).split("\n")[0]) from exc
