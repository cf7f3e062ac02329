"""Analyst SQL on the real engine: what reaches beyond the database from where ClickHouse
runs (the host's files, other hosts, programs), a SETTINGS clause and INTO OUTFILE are
refused however the query spells them (quoted names, comments, ``$`` in names), because the
guard reads what ClickHouse's own parser makes of the query; ordinary analyst queries run;
a tenant's query reads its shop's tables only."""

from __future__ import annotations

import pytest

from sinks.errors import ReadOnlyViolation
from sinks.sql import run_sql

REFUSED = [
    "SELECT * FROM file('{secret}', 'LineAsString')",
    "SELECT file('{secret}')",
    "select FILE('{secret}')",
    "SELECT * FROM `file`('{secret}', 'LineAsString')",
    "SELECT * FROM \"file\"('{secret}', 'LineAsString')",
    "SELECT 1 AS a$$, file('{secret}') AS b$$",
    "SELECT 1 # '\n, file('{secret}') # '",
    "SELECT * FROM filesystem('{folder}')",
    "SELECT * FROM eval(concat('SELECT * FROM fi', 'le(''{secret}'')')) "
    "SETTINGS allow_experimental_eval_table_function = 1",
    "SELECT * FROM loop(file('{secret}'))",
    "SELECT (SELECT any(line) FROM file('{secret}', 'LineAsString'))",
    "SELECT * FROM view(SELECT file('{secret}'))",
    "DESCRIBE file('{secret}')",
    "EXPLAIN SELECT * FROM file('{secret}')",
    "SELECT * FROM url('http://127.0.0.1:1/x', 'CSV')",
    "SELECT * FROM events, s3('http://127.0.0.1:1/b/x.csv')",
    "SELECT 1 WHERE 1 IN (SELECT * FROM remote('127.0.0.1:1', system.one))",
    "SELECT * FROM merge(currentDatabase(), '^events$')",
    "SELECT * FROM events SETTINGS additional_table_filters = {{}}",
    "SELECT 1 # ' \n INTO OUTFILE '{written}' # '",
    # found by a second try: APPLY's parse hides its function; nested comments; other roots
    "SELECT * APPLY(file) FROM (SELECT '{secret}' AS x)",
    "SELECT * APPLY(x -> (SELECT * FROM url('http://127.0.0.1:1/a', 'LineAsString'))) "
    "FROM (SELECT 1 AS x)",
    "SELECT * APPLY(x -> (SELECT count() FROM events SETTINGS additional_table_filters = {{}})) "
    "FROM (SELECT 1 AS x)",
    "SELECT COLUMNS('x') APPLY(file) FROM (SELECT '{secret}' AS x)",
    "SELECT 1 INTO /* /* */ */ OUTFILE '{written}'",
    "SHOW TABLES INTO /* /* */ */ OUTFILE '{written}'",
    "EXPLAIN SYNTAX SELECT 'x' INTO /* /* */ */ OUTFILE '{written}' APPEND",
    "DESCRIBE events INTO OUTFILE '{written}'",
    "/* /* */ SELECT */ KILL QUERY WHERE 1",
    "SHOW PROCESSLIST",
]


@pytest.fixture
def host(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("a line of the host's own file\n")
    return {"secret": secret, "folder": tmp_path, "written": tmp_path / "written.txt"}


@pytest.mark.parametrize("query", REFUSED)
def test_what_reaches_beyond_the_database_is_refused_however_spelt(clickhouse, host, query):
    with pytest.raises(ReadOnlyViolation):
        run_sql(clickhouse, query.format(**host))
    assert not host["written"].exists()


@pytest.mark.parametrize("query", [
    "SELECT event, count() FROM events WHERE event LIKE '%--%' GROUP BY event",
    "SELECT * FROM numbers(3)", "SHOW TABLES", "DESCRIBE events", "EXPLAIN SELECT 1",
    "WITH t AS (SELECT 1 AS v) SELECT * FROM t", "SELECT 'file(x)' AS note -- a comment",
    "SELECT e.tenant FROM events AS e LIMIT 1", "EXISTS TABLE events", "SELECT 1;"])
def test_analyst_queries_run(clickhouse, query):
    run_sql(clickhouse, query)


def test_a_tenants_query_reads_its_shops_tables_only(clickhouse):
    database = clickhouse.database
    run_sql(clickhouse, f"SELECT count() FROM {database}.events", tenant_database=database)
    for query, why in (("SELECT * FROM system.tables", "its shop's tables"),
                       ("SELECT * FROM numbers(3)", "table functions"),
                       ("SELECT * FROM merge(currentDatabase(), '^events$')", "table functions")):
        with pytest.raises(ReadOnlyViolation, match=why):
            run_sql(clickhouse, query, tenant_database=database)


@pytest.mark.parametrize("query", ["SELECT 1 AS x FORMAT JSON",
                                   "SELECT count() FROM events WHERE 1 FORMAT CSVWithNames",
                                   "SHOW TABLES FORMAT TSV"])
def test_a_format_clause_is_refused_with_the_option_to_use_instead(clickhouse, query):
    """The answer is a table that the command (or /sql) formats: a query's own FORMAT clause
    was a syntax error about "FORMAT Native" before; it is a refusal naming --format."""
    with pytest.raises(ReadOnlyViolation, match="--format"):
        run_sql(clickhouse, query)
    # a column or table named like a format is no FORMAT clause
    run_sql(clickhouse, "SELECT 1 AS JSON FROM events AS CSV")
