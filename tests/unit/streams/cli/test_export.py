"""A report table written as csv, json, parquet and xlsx reads back with its values; a file
appears whole or not at all; the webhook signature is Stripe's scheme."""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import orjson
import pytest

from models.errors import ShopstreamError
from models.signatures import signature
from sinks.reports import Table
from streams.cli.export import export_table

TABLE = Table(
    ["day", "at", "product", "orders", "revenue", "rate", "winner", "note"],
    [
        [date(2026, 3, 1), datetime(2026, 3, 1, 10, 5, 30, 250000, tzinfo=UTC), "p1", 2,
         Decimal("55.0000"), 0.5, True, None],
        [date(2026, 4, 2), datetime(2026, 4, 2, 23, 59, tzinfo=UTC), "p,2 \"q\"", 0,
         Decimal("0.0000"), 0.125, False, "ü"],
    ],
)


def test_csv(tmp_path):
    out = tmp_path / "r.csv"
    export_table(TABLE, "csv", out)
    rows = list(csv.reader(out.open(newline="")))
    assert rows == [TABLE.columns,
                    ["2026-03-01", "2026-03-01T10:05:30.250Z", "p1", "2", "55.0000", "0.5", "True", ""],
                    ["2026-04-02", "2026-04-02T23:59:00.000Z", 'p,2 "q"', "0", "0.0000", "0.125",
                     "False", "ü"]]


def test_an_export_gets_the_mode_of_any_file_written_here(tmp_path):
    import os

    out, plain = tmp_path / "r.csv", tmp_path / "plain.txt"
    export_table(TABLE, "csv", out)
    plain.write_text("x")  # as the umask makes it
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 != 0o600
    mask = os.umask(0o077)  # (this test's own thread; restored below)
    try:
        export_table(TABLE, "csv", out)
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(mask)


def test_json(tmp_path):
    out = tmp_path / "r.json"
    export_table(TABLE, "json", out)
    first = orjson.loads(out.read_bytes())[0]
    assert first == {"day": "2026-03-01", "at": "2026-03-01T10:05:30.250Z", "product": "p1",
                     "orders": 2, "revenue": 55.0, "rate": 0.5, "winner": True, "note": None}


def test_parquet_keeps_types(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "r.parquet"
    export_table(TABLE, "parquet", out)
    back = pq.read_table(out)
    assert back.column_names == TABLE.columns
    assert back.to_pylist()[0] == dict(zip(TABLE.columns, TABLE.rows[0], strict=True))
    assert str(back.schema.field("revenue").type).startswith("decimal128")


def test_a_table_through_a_workers_json_writes_the_same_parquet_types(tmp_path):
    """``export`` through a worker (its JSON answer read back with the columns' kinds) gives
    the Parquet types it gives on the database directly: decimals, UTC times, dates."""
    import json

    import pyarrow.parquet as pq

    from models.serde import dumps
    from sinks.report_types import column_kinds, typed_rows

    body = json.loads(dumps({"rows": TABLE.rows, "kinds": column_kinds(TABLE)}),
                      parse_float=Decimal)
    assert body["kinds"] == ["date", "datetime", "str", "int", "decimal", "float", "bool", "str"]
    back = Table(TABLE.columns, typed_rows(body["rows"], body["kinds"]))
    assert back.rows == TABLE.rows
    local, remote = tmp_path / "local.parquet", tmp_path / "remote.parquet"
    export_table(TABLE, "parquet", local)
    export_table(back, "parquet", remote)
    assert pq.read_table(remote).schema == pq.read_table(local).schema
    # a column of no kind (an array of numbers) comes back as it reads locally
    assert typed_rows([[[Decimal("1.5"), {"a": Decimal("2.0")}]]], [None]) == [[[1.5, {"a": 2.0}]]]
    # ClickHouse's DateTime without a zone (a naive datetime) is written as UTC as well
    naive = Table(["at"], [[datetime(2026, 3, 1, 10, 5)]])
    export_table(naive, "parquet", local)
    assert str(pq.read_table(local).schema.field("at").type) == "timestamp[us, tz=UTC]"


def test_a_clickhouse_type_says_what_its_column_holds():
    from sinks.report_types import kind_of_type

    assert [kind_of_type(t) for t in (
        "Decimal(18, 4)", "Nullable(Decimal(38, 2))", "DateTime64(3, 'UTC')", "Date",
        "LowCardinality(String)", "LowCardinality(Nullable(String))", "UInt64", "Int32",
        "Float64", "Bool", "Array(String)", "Decimal64(2)", "Decimal(76, 6)")] == [
        "decimal(18,4)", "decimal(38,2)", "datetime", "date", "str", "str", "int", "int", "float",
        "bool", None, "decimal(18,2)", "decimal(76,6)"]


def test_a_reports_parquet_schema_is_its_column_types_whatever_its_data(tmp_path):
    """Decimals are typed from the column's ClickHouse type, not inferred from the values (a
    period with data gave decimal128(7,4), an empty one decimal128(38,4): two scheduled files
    would not concatenate); past 38 digits, decimal256."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from models.serde import dumps
    from sinks.report_types import column_kinds, kinds_of_types, typed_rows

    kinds = kinds_of_types(["Date", "Decimal(38, 4)", "Decimal(38, 2)", "Decimal(76, 4)",
                            "UInt64", "Nullable(Float64)"])
    columns = ["day", "revenue", "aov", "wide", "orders", "risk"]
    full = Table(columns, [[date(2026, 3, 1), Decimal("100.5000"), Decimal("58.33"),
                            Decimal("1.0000"), 3, None]], kinds=kinds)
    empty = Table(columns, [], kinds=kinds)
    full_out, empty_out = tmp_path / "full.parquet", tmp_path / "empty.parquet"
    export_table(full, "parquet", full_out)
    export_table(empty, "parquet", empty_out)
    schema = pq.read_table(full_out).schema
    assert schema == pq.read_table(empty_out).schema
    assert [str(f.type) for f in schema] == [
        "date32[day]", "decimal128(38, 4)", "decimal128(38, 2)", "decimal256(76, 4)", "int64",
        "double"]
    assert pa.concat_tables([pq.read_table(full_out), pq.read_table(empty_out)]).num_rows == 1
    # through a worker's JSON answer: the same kinds, so the same schema
    body = json.loads(dumps({"rows": full.rows, "kinds": column_kinds(full)}), parse_float=Decimal)
    assert body["kinds"][1:4] == ["decimal(38,4)", "decimal(38,2)", "decimal(76,4)"]
    export_table(Table(columns, typed_rows(body["rows"], body["kinds"]), kinds=body["kinds"]),
                 "parquet", full_out)
    assert pq.read_table(full_out).schema == schema


def test_a_column_of_mixed_values_becomes_text_in_parquet(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "m.parquet"
    export_table(Table(["x"], [[1], ["a"], [("p1", "p2")], [None]]), "parquet", out)
    assert pq.read_table(out).column("x").to_pylist() == ["1", "a", "p1, p2", None]


def read_xlsx(path: Path) -> list[list[object]]:
    """The first sheet's cells: shared strings resolved, numbers as floats, booleans."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(path) as book:
        strings = [t.text or "" for t in ElementTree.fromstring(
            book.read("xl/sharedStrings.xml")).iterfind(".//m:t", ns)]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iterfind(".//m:row", ns):
        cells: list[object] = []
        for cell in row.iterfind("m:c", ns):
            column = ord(re.match(r"[A-Z]", cell.get("r", "A")).group()) - ord("A")
            cells += [None] * (column - len(cells))
            value = cell.findtext("m:v", namespaces=ns)
            kind = cell.get("t")
            cells.append(strings[int(value)] if kind == "s" else bool(int(value)) if kind == "b"
                         else float(value))
        rows.append(cells)
    return rows


def excel_day(value: datetime) -> float:
    return (value.replace(tzinfo=None) - datetime(1899, 12, 30)).total_seconds() / 86400


def test_xlsx(tmp_path):
    out = tmp_path / "r.xlsx"
    export_table(TABLE, "xlsx", out)
    header, first, second = read_xlsx(out)
    assert header == TABLE.columns
    assert first == [excel_day(datetime(2026, 3, 1)), pytest.approx(excel_day(TABLE.rows[0][1])),
                     "p1", 2.0, 55.0, 0.5, True]
    assert second[2:] == ['p,2 "q"', 0.0, 0.0, 0.125, False, "ü"]


def test_a_failed_export_leaves_no_file(tmp_path):
    out = tmp_path / "r.parquet"
    with pytest.raises(IndexError):
        export_table(Table(["a", "b"], [[1]]), "parquet", out)  # a row short of a cell
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ShopstreamError, match="unknown export format 'pdf'"):
        export_table(TABLE, "pdf", tmp_path / "r.pdf")


def test_signature_is_hmac_sha256_of_timestamp_and_body():
    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("k", 1700000000, body) == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(("out", "message"), [
    ("x.xlsx", "ends in .xlsx, but --format is csv"),
    ("x.PARQUET", "ends in .parquet, but --format is csv"),
    ("x.json", "ends in .json, but --format is csv"),
])
def test_an_out_named_for_another_format_is_refused(tmp_path, monkeypatch, capsys, out, message):
    from streams.cli.main import main

    monkeypatch.setenv("SHOPSTREAM_DATA_DIR", str(tmp_path / "data"))
    assert main(["export", "kpis", "--format", "csv", "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / out).exists()


def test_an_out_that_is_a_directory_is_one_line(tmp_path, monkeypatch, capsys):
    from streams.cli.main import main

    monkeypatch.setenv("SHOPSTREAM_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "dir").mkdir()
    assert main(["export", "kpis", "--format", "csv", "--out", str(tmp_path / "dir")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a directory" in err and "Traceback" not in err, err
    with pytest.raises(ShopstreamError, match="is a directory"):  # a scheduled export's too
        export_table(TABLE, "csv", tmp_path / "dir")


def test_an_out_of_another_name_or_no_extension_is_written(tmp_path):
    from streams.cli.export import checked_out

    for name in ("report", "report.txt", "r.csv.gz", "r.CSV"):
        assert checked_out(tmp_path / name, "csv") == tmp_path / name


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "xlsx"])
def test_every_format_says_what_was_not_converted(tmp_path, capsys, fmt):
    """Amounts without an exchange rate are left out of the money figures: every format
    says so on stderr (parquet and xlsx said nothing)."""
    table = Table(TABLE.columns, TABLE.rows)
    table.unconverted = {"JPY": Decimal("1500")}
    export_table(table, fmt, tmp_path / f"r.{fmt}")
    err = capsys.readouterr().err
    assert "not converted" in err and "JPY 1500" in err, err
