"""The read-only guard of analyst SQL."""

from __future__ import annotations

import pytest

from sinks.errors import ReadOnlyViolation
from sinks.sql import check_read_only


@pytest.mark.parametrize("sql", ["SELECT 1", "  with x as (select 1) select * from x",
                                 "SHOW TABLES;", "-- note\nDESCRIBE events", "EXPLAIN SELECT 1",
                                 "SELECT 'into outfile x' AS note, formatDateTime(now(), '%F')",
                                 "SELECT `into outfile` FROM t", "SELECT $$ into outfile $$ AS a",
                                 "SELECT 1 AS format ORDER BY format DESC",
                                 "SELECT url, domain(url), cutURLParameter(url, 'a') FROM events",
                                 "SELECT 'file(x)', `s3` FROM t", "SELECT URLHierarchy(u) FROM t",
                                 "SELECT e.file FROM events AS e", "SELECT * FROM numbers(3)"])
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
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", r"file\(\) reads from outside"),
    ("SELECT file('/etc/hostname')", r"file\(\) reads from outside"),
    ("select * from URL ('http://10.0.0.1/x', 'CSV')", r"URL\(\) reads from outside"),
    ("SELECT * FROM events, s3('https://b/x.csv')", r"s3\(\) reads from outside"),
    ("SELECT 1 WHERE 1 IN (SELECT * FROM remote('db:9000', system.one))", "remote"),
    ("SELECT * FROM executable('x.sh', 'TSV', 'a String')", "executable"),
    ("SELECT * FROM loop(mysql('h', 'd', 't', 'u', 'p'))", "mysql"),
])
def test_writes_are_refused(sql, why):
    with pytest.raises(ReadOnlyViolation, match=why):
        check_read_only(sql)
