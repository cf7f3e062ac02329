"""The read-only guard of analyst SQL."""

from __future__ import annotations

import pytest

from sinks.errors import ReadOnlyViolation
from sinks.sql import check_read_only


@pytest.mark.parametrize("sql", ["SELECT 1", "  with x as (select 1) select * from x",
                                 "SHOW TABLES;", "-- note\nDESCRIBE events", "EXPLAIN SELECT 1",
                                 "SELECT 'into outfile x' AS note, formatDateTime(now(), '%F')",
                                 "SELECT `into outfile` FROM t", "SELECT 'a FORMAT CSV'"])
def test_read_only_statements_pass(sql):
    assert check_read_only(sql)


@pytest.mark.parametrize(("sql", "why"), [
    ("DROP TABLE events", "not DROP"), ("insert into events values (1)", "not INSERT"),
    ("SELECT 1; DROP TABLE events", "one statement"), ("  ", "no query"),
    ("/* SELECT */ ALTER TABLE events DELETE WHERE 1", "not ALTER"),
    ("select 1 into outfile '/tmp/x.txt'", "INTO OUTFILE writes a file"),
    ("SELECT 'pwned' INTO  OUTFILE '/tmp/victim.txt' TRUNCATE", "INTO OUTFILE writes a file"),
    ("SELECT 1 /* */ Into\nOutFile 'x'", "INTO OUTFILE writes a file"),
    ("SELECT 42 FORMAT Native", "leave FORMAT out"),
])
def test_writes_are_refused(sql, why):
    with pytest.raises(ReadOnlyViolation, match=why):
        check_read_only(sql)
