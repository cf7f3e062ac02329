"""The read-only guard of analyst SQL: what the text says (check_read_only), and the rules
over what ClickHouse's parser makes of it (check_parsed, on ASTs as EXPLAIN AST prints
them; tests/integration/test_sql_guard.py runs both on the real engine)."""

from __future__ import annotations

import pytest

from sinks.errors import ReadOnlyViolation
from sinks.sql import check_parsed, check_read_only


@pytest.mark.parametrize("sql", ["SELECT 1", "  with x as (select 1) select * from x",
                                 "SHOW TABLES;", "-- note\nDESCRIBE events", "EXPLAIN SELECT 1",
                                 "SELECT 'into outfile x' AS note, formatDateTime(now(), '%F')",
                                 "SELECT `into outfile` FROM t", "SELECT $$ into outfile $$ AS a",
                                 "SELECT 1 AS format ORDER BY format DESC",
                                 "SELECT url FROM events WHERE url LIKE '%--%'",
                                 "SELECT '; DROP TABLE events' AS a", "# note\nSELECT 1",
                                 "SELECT 1 /* ; */"])
def test_read_only_statements_pass(sql):
    assert check_read_only(sql)


def test_the_statement_run_is_the_one_sent_less_its_final_semicolon():
    sql = "SELECT url FROM events WHERE url LIKE '%--%' -- the dashes are in a string\n;"
    assert check_read_only(sql) == sql.rstrip(";").strip()


@pytest.mark.parametrize(("sql", "why"), [
    ("DROP TABLE events", "not DROP"), ("insert into events values (1)", "not INSERT"),
    ("SELECT 1; DROP TABLE events", "one statement"), ("  ", "no query"), ("-- x", "no query"),
    ("/* SELECT */ ALTER TABLE events DELETE WHERE 1", "not ALTER"),
    ("select 1 into outfile '/tmp/x.txt'", "INTO OUTFILE writes a file"),
    ("SELECT 'pwned' INTO  OUTFILE '/tmp/victim.txt' TRUNCATE", "INTO OUTFILE writes a file"),
    ("SELECT 1 /* */ Into\nOutFile 'x'", "INTO OUTFILE writes a file"),
    ("SELECT $$'$$ AS a INTO OUTFILE '/tmp/x'", "INTO OUTFILE writes a file"),
    ("SELECT $q$it's$q$ INTO OUTFILE 'x'", "INTO OUTFILE writes a file"),
    ("SELECT 1 INTO /* /* */ */ OUTFILE 'x'", "INTO OUTFILE writes a file"),  # they nest
    ("/* /* */ SELECT */ KILL QUERY WHERE 1", "not KILL"),
    ("SELECT 1 #! '\nINTO OUTFILE 'x'", "INTO OUTFILE writes a file"),
])
def test_writes_are_refused(sql, why):
    with pytest.raises(ReadOnlyViolation, match=why):
        check_read_only(sql)


def ast(text: str) -> list[str]:
    return text.strip("\n").split("\n")


SELECT_FROM = """
SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Asterisk
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      {table}
 Identifier Native
"""


@pytest.mark.parametrize(("table", "allowed"), [
    ("TableIdentifier events", True), ("Function numbers (children 1)", True),
    ("Function file (children 1)", False), ("Function filesystem (children 1)", False),
    ("Function eval (children 1)", False), ("Function merge (children 1)", False),
    ("Function URL (children 1)", False), ("Function s3Cluster (children 1)", False)])
def test_only_table_functions_that_make_rows_up_are_read(table, allowed):
    parsed = ast(SELECT_FROM.format(table=table))
    if allowed:
        check_parsed(parsed)
    else:
        with pytest.raises(ReadOnlyViolation, match=r"\(\) reaches beyond the database"):
            check_parsed(parsed)


def test_what_the_checks_cannot_see_into_and_statements_that_are_no_query_are_refused():
    apply_ = ast(SELECT_FROM.format(table="TableIdentifier events")).copy()
    apply_.insert(5, "     ColumnsTransformerList (children 1)")
    apply_.insert(6, "      ColumnsApplyTransformer")
    with pytest.raises(ReadOnlyViolation, match="APPLY is not taken here"):
        check_parsed(apply_)
    with pytest.raises(ReadOnlyViolation, match="not KillQueryQuery"):
        check_parsed(["KillQueryQuery (children 1)", " Identifier Native"])
    with pytest.raises(ReadOnlyViolation, match="not ShowProcesslistQuery"):
        check_parsed(["ShowProcesslistQuery", " Identifier Native"])
    with pytest.raises(ReadOnlyViolation, match="INTO OUTFILE"):  # under any statement
        check_parsed(["ShowTables (children 2)", " Literal '/tmp/x'", " Identifier Native"])


def test_settings_outfile_and_outside_expressions_are_refused():
    settings = ast(SELECT_FROM.format(table="TableIdentifier events")).copy()
    settings.insert(-1, "   Set")
    with pytest.raises(ReadOnlyViolation, match="SETTINGS clause"):
        check_parsed(settings)
    outfile = ast("SelectWithUnionQuery (children 3)\n ExpressionList (children 1)\n"
                  "  SelectQuery (children 1)\n   ExpressionList (children 1)\n"
                  "    Literal UInt64_1\n Literal '/tmp/x'\n Identifier Native")
    with pytest.raises(ReadOnlyViolation, match="INTO OUTFILE"):
        check_parsed(outfile)
    scalar = ast("SelectWithUnionQuery (children 2)\n ExpressionList (children 1)\n"
                 "  SelectQuery (children 1)\n   ExpressionList (children 1)\n"
                 "    Function file (children 1)\n     ExpressionList (children 1)\n"
                 "      Literal '/etc/passwd'\n Identifier Native")
    with pytest.raises(ReadOnlyViolation, match=r"file\(\) reaches beyond"):
        check_parsed(scalar)


def test_a_tenants_query_reads_its_databases_tables_only():
    check_parsed(ast(SELECT_FROM.format(table="TableIdentifier events")), "shop_db")
    check_parsed(ast(SELECT_FROM.format(table="TableIdentifier shop_db.events")), "shop_db")
    for table, why in (("Function numbers (children 1)", "table functions"),
                       ("TableIdentifier system.query_log", "its shop's tables"),
                       ("TableIdentifier other_db.events", "its shop's tables")):
        with pytest.raises(ReadOnlyViolation, match=why):
            check_parsed(ast(SELECT_FROM.format(table=table)), "shop_db")
