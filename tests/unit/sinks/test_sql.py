"""The read-only guard of analyst SQL."""

from __future__ import annotations

import pytest

from sinks.errors import ReadOnlyViolation
from sinks.sql import check_read_only


@pytest.mark.parametrize("sql", ["SELECT 1", "  with x as (select 1) select * from x",
                                 "SHOW TABLES;", "-- note\nDESCRIBE events", "EXPLAIN SELECT 1",
                                 "SELECT 'into outfile x' AS note, formatDateTime(now(), '%F')",
                                 "SELECT `into outfile` FROM t", "SELECT $$ into outfile $$ AS a",
                                 "SELECT 1 AS format ORDER BY format DESC"])
def test_read_only_statements_pass(sql):
    assert check_read_only(sql)


@pytest.mark.parametrize(("sql", "why"), [
    ("DROP TABLE events", "not DROP"), ("insert into events values (1)", "not INSERT"),
    ("SELECT 1; DROP TABLE events", "one statement"), ("  ", "no query"),
    ("/* SELECT */ ALTER TABLE events DELETE WHERE 1", "not ALTER"),
    ("select 1 into outfile '/tmp/x.txt'", "INTO OUTFILE writes a file"),
    ("SELECT 'pwned' INTO  OUTFILE '/tmp/victim.txt' TRUNCATE", "INTO OUTFILE writes a file"),
    ("SELECT 1 /* */ Into\nOutFile 'x'", "INTO OUTFILE writes a file"),
    ("SELECT $$'$$ AS a INTO OUTFILE '/tmp/x'", "INTO OUTFILE writes a file"),
    ("SELECT $q$it's$q$ INTO OUTFILE 'x'", "INTO OUTFILE writes a file"),
])
def test_writes_are_refused(sql, why):
    with pytest.raises(ReadOnlyViolation, match=why):
        check_read_only(sql)
