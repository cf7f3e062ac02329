"""Cluster mode's DDL comes from the single-node definition, and ClickHouse's own parser
(the embedded engine's ``formatQuery``) accepts every statement of it; no cluster runs here,
so what the engine would do with it beyond parsing is argued in the README, not tested."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import pytest

from sinks.connection import connect
from sinks.errors import ClickHouseError
from sinks.migrations import MIGRATIONS_TABLE, migrations_table
from sinks.schema import MIGRATIONS
from sinks.schema.cluster import (
    CLUSTER_SESSION_SETTINGS,
    LOCAL,
    SHARDING_KEYS,
    UnsupportedStatement,
    for_cluster,
    layout_of,
    render,
    sharding_key,
)

CLUSTER, DATABASE = "shop_cluster", "shopstream"
LAYOUT = layout_of(MIGRATIONS, MIGRATIONS_TABLE)
TABLES = LAYOUT.tables
# the released single-node migrations, byte for byte: a migration never changes once released
RELEASED = {6: "78995621db4df61c5477b22274bbcdd7608f4aa64970fe268d0aefa01e39c44a"}
MIGRATIONS_TABLE_SHA = "1d4c2b544c627445d73d7c2a53e7e8c7d226c05f3ab033e650b35865a06dcf28"

# chDB keeps one engine per process (the integration tests open one on a path), so the
# parser runs in a process of its own. Query parameters are read in escaped form.
ENGINE_SCRIPT = r"""
import json, sys, chdb
def escaped(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
request = json.load(sys.stdin)
out = {"formatted": [], "settings": [], "merge_tree_settings": []}
for statement in request["statements"]:
    try:
        text = chdb.query("SELECT formatQuery({q:String})", "RawBLOB",
                           params={"q": escaped(statement)})
        out["formatted"].append({"ok": text.bytes().decode().rstrip("\n")})
    except Exception as exc:
        out["formatted"].append({"error": str(exc).splitlines()[0][:300]})
for table in ("settings", "merge_tree_settings"):
    rows = chdb.query(f"SELECT name FROM system.{table}", "JSONCompact").bytes()
    out[table] = [row[0] for row in json.loads(rows)["data"]]
json.dump(out, sys.stdout)
"""


def engine(statements: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", ENGINE_SCRIPT], input=json.dumps(
        {"statements": statements}), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def cluster_statements() -> list[str]:
    out = list(migrations_table(CLUSTER, DATABASE))
    for migration in MIGRATIONS:
        out.extend(render(migration, CLUSTER, DATABASE, LAYOUT))
    return out


@pytest.fixture(scope="module")
def parsed() -> tuple[list[str], dict]:
    statements = cluster_statements()
    return statements, engine(statements)


def test_single_node_and_embedded_render_the_released_migrations_byte_for_byte():
    digest = hashlib.sha256()
    for migration in MIGRATIONS[:6]:
        assert render(migration, None, DATABASE, LAYOUT) is migration.statements
        digest.update(f"{migration.version}\x00{migration.name}\x00".encode())
        for statement in migration.statements:
            digest.update(statement.encode() + b"\x00")
    assert digest.hexdigest() == RELEASED[6]
    assert migrations_table(None, DATABASE) == (MIGRATIONS_TABLE,)
    assert hashlib.sha256(MIGRATIONS_TABLE.encode()).hexdigest() == MIGRATIONS_TABLE_SHA


def test_every_cluster_statement_parses_in_the_clickhouse_engine(parsed):
    statements, result = parsed
    failures = [(s.strip()[:120], f["error"]) for s, f in zip(statements, result["formatted"],
                                                                strict=True) if "error" in f]
    assert not failures, failures
    # the parser is strict enough to catch what a broken renderer would produce
    broken = [statements[0].replace("'{replica}')", "'{replica}'"),
              statements[0].replace(" ON CLUSTER ", " ON CLUSTERS ")]
    assert all(b != statements[0] for b in broken)
    assert all("error" in f for f in engine(broken)["formatted"])


def test_every_table_is_replicated_on_the_cluster_behind_a_distributed_table(parsed):
    statements, result = parsed
    formatted = [f["ok"] for f in result["formatted"]]
    for table in TABLES - {"sessions"}:  # migration 6 dropped sessions
        local = [f for f in formatted if f.startswith(f"CREATE TABLE IF NOT EXISTS {table}{LOCAL} ")]
        assert len(local) == 1, table
        assert f"ON CLUSTER {CLUSTER}" in local[0]
        assert re.search(r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/"
                         r"\{database\}/\{table\}', '\{replica\}'", local[0]), local[0]
        assert "replicated_deduplication_window = 10000" in local[0]
        assert "non_replicated_deduplication_window" not in local[0]
        front = [f for f in formatted if f.startswith(f"CREATE TABLE IF NOT EXISTS {table} ")]
        assert len(front) == 1, table
        key = None if table in LAYOUT.rollups else SHARDING_KEYS.get(table) or (
            "cityHash64(" + re.search(r"ORDER BY \(?(.*?)\)?\n", local[0]).group(1) + ")")
        assert front[0].endswith(f"ENGINE = Distributed('{CLUSTER}', '{DATABASE}', "
                                 f"'{table}{LOCAL}'" + (f", {key})" if key else ")")), front[0]


def test_only_the_rollups_have_no_sharding_key_and_replacing_tables_shard_by_sort_key():
    assert LAYOUT.rollups == {"kpi_minute", "users_first_seen", "product_daily", "sessions",
                              "coupon_daily", "page_daily", "identities"}
    written = {"events", "order_items", "sink_batches", "models", "recommendations",
               "funnel_live_minute", "schema_migrations"}
    assert written <= TABLES - LAYOUT.rollups
    statements = {name: s for m in MIGRATIONS for s in m.statements
                  if (name := (re.match(r"\s*CREATE TABLE IF NOT EXISTS (\w+)", s) or [0, 0])[1])}
    # a ReplacingMergeTree read with FINAL needs equal sort keys on one shard
    assert sharding_key("recommendations", statements["recommendations"], LAYOUT) == (
        "cityHash64(tenant, user_key)")
    assert sharding_key("models", statements["models"], LAYOUT) == "cityHash64(tenant, version)"
    assert sharding_key("schema_migrations", MIGRATIONS_TABLE, LAYOUT) == "cityHash64(version)"
    assert sharding_key("kpi_minute", statements["kpi_minute"], LAYOUT) is None


def test_materialized_views_read_and_write_the_local_tables(parsed):
    statements, result = parsed
    views = [f["ok"] for f in result["formatted"] if f["ok"].startswith("CREATE MATERIALIZED VIEW")]
    assert len(views) == 8
    for view in views:
        target = re.search(r" TO (\w+)", view).group(1)
        sources = re.findall(r"\bFROM (\w+)", view)
        assert target.endswith(LOCAL) and sources and all(s.endswith(LOCAL) for s in sources), view


def test_plain_views_read_the_distributed_tables(parsed):
    statements, result = parsed
    views = [f["ok"] for f in result["formatted"] if re.match(r"CREATE (OR REPLACE )?VIEW", f["ok"])]
    assert views
    for view in views:
        assert f"ON CLUSTER {CLUSTER}" in view
        assert LOCAL not in view, view


def test_dropping_a_table_drops_both_names():
    assert for_cluster("DROP TABLE IF EXISTS sessions", CLUSTER, DATABASE, LAYOUT) == (
        f"DROP TABLE IF EXISTS sessions ON CLUSTER {CLUSTER} SYNC",
        f"DROP TABLE IF EXISTS sessions{LOCAL} ON CLUSTER {CLUSTER} SYNC")


def test_a_statement_without_a_cluster_form_is_refused():
    with pytest.raises(UnsupportedStatement, match="ALTER TABLE events"):
        for_cluster("ALTER TABLE events ADD COLUMN x UInt8", CLUSTER, DATABASE, LAYOUT)


def test_the_settings_named_exist_in_the_engine(parsed):
    _statements, result = parsed
    assert set(CLUSTER_SESSION_SETTINGS) <= set(result["settings"])
    assert "deduplicate_blocks_in_dependent_materialized_views" in result["settings"]
    assert {"replicated_deduplication_window", "replicated_deduplication_window_seconds"} <= set(
        result["merge_tree_settings"])


def test_cluster_mode_on_the_embedded_engine_is_a_clear_error(tmp_path):
    with pytest.raises(ClickHouseError, match="needs a ClickHouse server"):
        connect(f"chdb://{tmp_path}", DATABASE, cluster=CLUSTER)
