"""Ad-hoc, read-only SQL for analysts (``shopstream sql`` and the worker's ``/sql``).

Two checks before a statement runs. :func:`check_read_only` reads its text: one read-only
statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS), no ``INTO OUTFILE``. Then
:func:`check_parsed` reads what ClickHouse's own parser makes of it (``EXPLAIN AST``, which
parses and runs nothing), so that quoting (``"file"(...)``, backticks), comments (``--``,
``/* */``, ``#``) and names with ``$`` cannot hide anything from it:

- no ``SETTINGS`` clause: the settings are the server's (a tenant's row filters are
  settings, and ``readonly = 2``, which lets a query carry them, lets the query change them);
- no ``INTO OUTFILE``: the embedded engine would write the file on the worker's host;
- table functions only from :data:`SAFE_TABLE_FUNCTIONS` (rows made up in the query); any
  other reaches beyond the database, where the engine runs: the host's files
  (``file()``, ``filesystem()``), other hosts (``url()``, ``s3()``, ``remote()``, ...),
  programs (``executable()``) or queries built at run time (``eval()``); none at all for a
  tenant's key, whose rows are held to its tenant by filters table functions read around;
- no function of :data:`OUTSIDE_FUNCTIONS` in an expression (``file('/etc/passwd')``);
- for a tenant's key, no table of another database (``system.query_log`` holds every
  tenant's queries).
"""

from __future__ import annotations

import re
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.errors import ClickHouseError, ReadOnlyViolation
from sinks.report_types import Table, query_table

_READ_ONLY_START = re.compile(r"(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b", re.I)
# a string or a quoted name, from its opening character (heredocs: $$...$$, $tag$...$tag$)
_QUOTED = re.compile(r"\$(\w*)\$.*?\$\1\$|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`",
                     re.S)
_INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)
# what an ad-hoc query's parse may hold (EXPLAIN AST's node kinds): a read-only statement
# and the parts of a query; anything else is refused by name. APPLY is left out: its parse
# does not show the function it applies, so nothing here could check it
QUERY_ROOTS = frozenset({"SelectWithUnionQuery", "DescribeQuery", "ExistsTableQuery", "Explain",
                         "ShowColumns", "ShowCreateTableQuery", "ShowTables"})
QUERY_NODES = QUERY_ROOTS | frozenset({
    "ArrayJoin", "Asterisk", "ColumnsExceptTransformer", "ColumnsRegexpMatcher",
    "ColumnsReplaceTransformer", "ColumnsReplaceTransformer::Replacement",
    "ColumnsTransformerList", "ExpressionList", "Function", "Identifier", "Literal",
    "OrderByElement", "QualifiedAsterisk", "SampleRatio", "SelectIntersectExceptQuery",
    "SelectQuery", "Subquery", "TableExpression", "TableIdentifier", "TableJoin",
    "TablesInSelectQuery", "TablesInSelectQueryElement", "WindowDefinition",
    "WindowListElement", "WithElement", "Set"})  # (Set: refused below, with its reason)
SAFE_TABLE_FUNCTIONS = frozenset({
    "numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "generateseries",
    "values", "generaterandom", "null"})
# expressions that read a file or reach another host from where the engine runs
OUTSIDE_FUNCTIONS = frozenset({"file", "hascolumnintable", "catboostevaluate",
                               "modelevaluate", "filesystem"})
# one ad-hoc query may not hold the engine (the worker's, in embedded mode) for long
QUERY_LIMITS = {"max_execution_time": 60, "max_result_rows": 1_000_000,
                "result_overflow_mode": "throw"}
_NODE = re.compile(r"^( *)(\S+)(?: (\S+))?")


def _bare(sql: str) -> str:
    """``sql`` with its strings and names emptied and its comments blanked, read left to
    right as the engine reads it: a ``--`` in a string is no comment, a quote in a comment
    starts no string, and ``/* */`` comments nest (``/* /* */ */`` is one comment)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char, pair = sql[i], sql[i:i + 2]
        if pair in ("--", "#!", "# ") or (char == "#" and i + 1 == n):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        elif pair == "/*":
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            out.append(" ")
        elif char in "'\"`$" and (match := _QUOTED.match(sql, i)):
            out.append("''")
            i = match.end()
        else:
            out.append(char)
            i += 1
    return "".join(out)


def check_read_only(sql: str) -> str:
    """Return the statement to run (``sql`` less a final ``;``), or raise ReadOnlyViolation
    with the reason. (What its text says; :func:`check_parsed` reads what it means.)"""
    bare = _bare(sql).strip()
    if not bare.rstrip(";").strip():
        raise ReadOnlyViolation("no query given")
    if ";" in bare.rstrip("; \n\t"):
        raise ReadOnlyViolation("one statement at a time")
    if not _READ_ONLY_START.match(bare):
        first = bare.split()[0].upper()
        raise ReadOnlyViolation(
            f"only read-only queries run here (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN), not {first}"
        )
    if _INTO_OUTFILE.search(bare):
        raise ReadOnlyViolation(_OUTFILE)
    return sql.strip().rstrip(";").strip()


_OUTFILE = ("INTO OUTFILE writes a file: not here (`shopstream sql --format csv > FILE` or "
            "`shopstream export` write files)")


def check_parsed(ast: list[str], tenant_database: str | None = None) -> None:
    """Refuse what the parsed statement (the lines of its ``EXPLAIN AST``) may not do (the
    module's list). ``tenant_database``: the query is a tenant's, held to this database's
    tables."""
    parents: list[tuple[int, str]] = []  # (depth, node kind) of the lines above
    for line in ast:
        match = _NODE.match(line)
        if match is None:
            continue
        depth, kind, name = len(match.group(1)), match.group(2), match.group(3) or ""
        while parents and parents[-1][0] >= depth:
            parents.pop()
        parent = parents[-1][1] if parents else ""
        if not parents and kind not in QUERY_ROOTS:
            raise ReadOnlyViolation(f"only read-only queries run here (SELECT, WITH, SHOW, "
                                    f"DESCRIBE, EXPLAIN, EXISTS), not {kind}")
        if kind not in QUERY_NODES:
            what = "APPLY" if kind == "ColumnsApplyTransformer" else kind
            raise ReadOnlyViolation(f"{what} is not taken here: an ad-hoc query selects, joins, "
                                    "groups, orders, describes and explains"
                                    + (" (name the function instead)" if what == "APPLY" else ""))
        if kind == "Set":
            raise ReadOnlyViolation("a SETTINGS clause is not taken here: the settings are the "
                                    "server's")
        if kind == "Literal" and depth == 1:  # a file name hung off the statement
            raise ReadOnlyViolation(_OUTFILE)
        if kind == "Function":
            _check_function(name, table=parent == "TableExpression",
                            tenant=tenant_database is not None)
        if tenant_database is not None and kind in ("TableIdentifier", "Identifier"):
            _check_table(name, tenant_database, table=kind == "TableIdentifier")
        parents.append((depth, kind))


def _check_function(name: str, table: bool, tenant: bool) -> None:
    if table and tenant:
        raise ReadOnlyViolation(f"table functions ({name}()) are not available to a tenant's "
                                "key; query the tables and views")
    if (table and name.lower() not in SAFE_TABLE_FUNCTIONS) or name.lower() in OUTSIDE_FUNCTIONS:
        raise ReadOnlyViolation(
            f"{name}() reaches beyond the database (files, other hosts or programs where "
            "ClickHouse runs): not here; query shopstream's tables and views (table functions "
            f"allowed: {', '.join(sorted(SAFE_TABLE_FUNCTIONS))})")


def _check_table(name: str, database: str, table: bool) -> None:
    """A tenant reads its database's tables only: ``db.table`` of another database is
    refused (an identifier ``a.b`` may be a column of table ``a``: only the databases that
    are never a table's name are refused there)."""
    if "." not in name:
        return
    qualifier = name.split(".", 1)[0]
    if table and qualifier != database or qualifier.lower() in ("system", "information_schema"):
        raise ReadOnlyViolation(f"{name}: a tenant's key reads its shop's tables and views only")


_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z_]\w*)\s*$", re.I)


def _check_format(statement: str, ast: list[str]) -> None:
    """Refuse the statement's own FORMAT clause (the answer is a table the caller formats): a
    final ``FORMAT name`` in the text that the parse shows hung off the statement."""
    match = _FORMAT_CLAUSE.search(_bare(statement).rstrip())
    if match and f" Identifier {match.group(1)}" in ast:
        raise ReadOnlyViolation(f"a FORMAT clause ({match.group(1)}) is not taken here: the "
                                "answer is a table; choose its form with `shopstream sql "
                                "--format table|csv|json` (the worker's /sql answers JSON)")


def parsed(client: Client, statement: str) -> list[str]:
    """The lines of ``EXPLAIN AST`` of ``statement``: ClickHouse parses it, runs nothing.
    (A raw query, so that the client appends no FORMAT clause of its own to the statement.)"""
    try:
        text = client.raw_query(f"EXPLAIN AST {statement}").decode()
        return [line for line in text.split("\n") if line]
    except DatabaseError as exc:
        raise ClickHouseError(str(exc).split("\n")[0]) from exc


def run_sql(client: Client, sql: str, settings: dict[str, Any] | None = None,
            tenant_database: str | None = None) -> Table:
    """Run a read-only query; the server enforces it too (``readonly = 2``). ``settings``:
    more ClickHouse settings (a tenant's row filters); ``tenant_database``: the query is a
    tenant's (:func:`check_parsed`)."""
    statement = check_read_only(sql)
    ast = parsed(client, statement)
    _check_format(statement, ast)
    check_parsed(ast, tenant_database)
    try:
        return query_table(client, statement,
                           settings={**(settings or {}), **QUERY_LIMITS, "readonly": 2})
    except DatabaseError as exc:
        if "READONLY" in str(exc) or "Code: 164" in str(exc):
            raise ReadOnlyViolation("ClickHouse refused: the query would write") from exc
        raise ClickHouseError(str(exc).split("\n")[0]) from exc
