"""``shopstream export REPORT --format csv|json|parquet|xlsx --out FILE``: a report to a file.

Also what scheduled exports use (:mod:`streams.cli.schedules`): :func:`export_table` writes
a file whole or not at all (a temporary file renamed into place), and :func:`announce` tells
a URL about it with one signed POST.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from models.errors import ShopstreamError
from models.signatures import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature
from models.times import as_utc
from sinks.report_types import column_kinds, decimal_digits
from sinks.reports import GRAINS, REPORTS, Table
from streams.cli.command import TENANT_HELP, limit_arg, share_arg, tenant_arg, time_arg
from streams.cli.output import say_unconverted, write_table
from streams.webhooks.delivery import post

FORMATS = ("csv", "json", "parquet", "xlsx")


def _cell_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(_cell_text(v) for v in value)
    return "" if value is None else str(value)


def _arrow_type(kind: str | None, values: list[Any]) -> Any:
    """The Parquet (Arrow) type of a column of ``kind`` (:func:`column_kinds`): from the
    report's column type, not its values, so a report's schema is the same whatever its data.
    ClickHouse's Decimal(P, S) is decimal128(P, S), decimal256(P, S) past 38 digits; a
    decimal of no known precision (a table not from ClickHouse) is decimal128(38, S), S its
    values' largest scale (4 when it has none). None: no kind, left to the values."""
    import pyarrow as pa  # type: ignore[import-untyped]

    digits = decimal_digits(kind)
    if digits is not None:
        precision, scale = digits
        return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    if kind == "decimal":
        scales = [-int(v.as_tuple().exponent) for v in values
                  if isinstance(v, Decimal) and v.is_finite()]
        return pa.decimal128(38, max([0, *scales]) if scales else 4)
    return {"datetime": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "int": pa.int64(),
            "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}.get(kind or "")


def _write_parquet(table: Table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    kinds = column_kinds(table)
    failed = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)
    arrays = []
    for i, _ in enumerate(table.columns):
        # times as UTC instants, whether ClickHouse gave them with their zone or without
        values = [as_utc(v) if isinstance(v, datetime) else v for v in (row[i] for row in table.rows)]
        try:
            arrays.append(pa.array(values, type=_arrow_type(kinds[i], values)))
            continue
        except failed:  # values that are not what the column's type says
            pass
        try:
            arrays.append(pa.array(values))
        except failed:
            arrays.append(pa.array([None if v is None else _cell_text(v) for v in values],
                                   type=pa.string()))
    pq.write_table(pa.Table.from_arrays(arrays, names=table.columns), path)


def _write_xlsx(table: Table, path: Path) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    with xlsxwriter.Workbook(str(path)) as book:
        sheet = book.add_worksheet("report")
        bold = book.add_format({"bold": True})
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_row(0, 0, table.columns, bold)
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(table.rows, start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime):  # Excel has no time zones: UTC, as everywhere
                    sheet.write_datetime(r, c, as_utc(value).replace(tzinfo=None), stamp)
                elif isinstance(value, date):
                    sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
                elif isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float | Decimal):
                    sheet.write_number(r, c, float(value))
                else:
                    sheet.write_string(r, c, _cell_text(value))
        for c, name in enumerate(table.columns):
            width = max([len(name)] + [len(_cell_text(row[c])) for row in table.rows[:1000]])
            sheet.set_column(c, c, min(60, width + 2))


def current_umask() -> int:
    """The process's umask, read without setting it (``os.umask`` sets it, for a moment, for
    every thread: a file another thread made then would get the wrong mode)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def export_table(table: Table, fmt: str, path: Path) -> None:
    """Write ``table`` to ``path`` in ``fmt``; the file appears complete or not at all."""
    if fmt not in FORMATS:
        raise ShopstreamError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if path.is_dir():
        raise ShopstreamError(f"{path} is a directory, not a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    tmp = Path(temporary)
    try:
        if fmt in ("csv", "json"):
            with tmp.open("w", encoding="utf-8", newline="") as out:
                write_table(table, fmt, out)
        else:  # (write_table says it for csv and json)
            say_unconverted(table)
            (_write_parquet if fmt == "parquet" else _write_xlsx)(table, tmp)
        tmp.chmod(0o666 & ~current_umask())  # as any file written here (mkstemp: 0600)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def announce(url: str, secret: str | None, payload: dict[str, Any], idempotency_key: str,
             timestamp: int, timeout: float = 10.0) -> int:
    """POST ``payload`` as JSON to ``url``, signed when a secret is set, with an
    ``Idempotency-Key`` so a receiver can drop a repeat. Returns the HTTP status (2xx);
    anything else is a ShopstreamError. One attempt: callers retry on their next run."""
    body = orjson.dumps(payload)
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    answer = post(url, body, headers, timeout)  # (a redirect is an answer, not followed)
    if answer.status is None:
        raise ShopstreamError(f"cannot reach the export webhook at {url}: {answer.error}")
    if not 200 <= answer.status < 300:
        detail = (answer.error or "").removeprefix(f"HTTP {answer.status}").lstrip(": ")
        raise ShopstreamError(f"the export webhook at {url} answered {answer.status}"
                              + (f" ({detail})" if detail else ""))
    return answer.status


def add_report_options(p: argparse.ArgumentParser) -> None:
    """The options ``shopstream report`` takes that shape the table (not its format)."""
    p.add_argument("--from", dest="start", type=time_arg,
                   help="start, inclusive (ISO 8601 date or time, UTC)")
    p.add_argument("--to", dest="end", type=time_arg,
                   help="end, exclusive (ISO 8601 date or time, UTC)")
    p.add_argument("--tenant", type=tenant_arg, help=TENANT_HELP)
    p.add_argument("--grain", choices=list(GRAINS), help="time reports' bucket")
    p.add_argument("--limit", type=limit_arg, default=50,
                   help="products, affinity, customers: rows, >= 1")
    p.add_argument("--min-support", type=share_arg, default=0.0, help="affinity: 0 to 1 (0)")
    p.add_argument("--as-of", type=time_arg,
                   help="rfm: the day recency is counted to (default: latest event)")
    p.add_argument("--include-bots", action="store_true", help="every report but quality: bots too")


def checked_out(out: Path, fmt: str) -> Path:
    """``--out`` as a file to write in ``fmt``: not a directory, and not named for another
    format (``--format csv --out x.xlsx`` would be CSV in a file Excel refuses to open)."""
    suffix = out.suffix.lower()
    if suffix in {f".{f}" for f in FORMATS} and suffix != f".{fmt}":
        raise ShopstreamError(f"--out {out} ends in {suffix}, but --format is {fmt}: name the "
                              f"file .{fmt}, or give --format {suffix[1:]}")
    if out.is_dir():
        raise ShopstreamError(f"--out {out} is a directory: give the file to write in it, "
                              f"e.g. {out / f'report.{fmt}'}")
    return out


def run(args: argparse.Namespace) -> int:
    import sys

    from models.settings import load_settings
    from streams.cli.queries import command_tenant, query_backend, report_params

    out = checked_out(Path(args.out), args.format)
    settings = load_settings()
    params = report_params(settings, tenant=command_tenant(settings, args.tenant),
                           start=args.start, end=args.end, as_of=args.as_of, grain=args.grain,
                           limit=args.limit, min_support=args.min_support,
                           include_bots=args.include_bots)
    table = query_backend(settings).report(args.name, params)
    try:
        export_table(table, args.format, out)
    except OSError as exc:  # (a directory made since, no permission, a full disk ...)
        raise ShopstreamError(f"cannot write {out}: {exc.strerror or exc}") from exc
    print(f"wrote {len(table.rows)} row(s) of {args.name} to {out} ({args.format})", file=sys.stderr)
    return 0


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("export", "write a report to a file: csv, json, parquet or xlsx")
    p.add_argument("name", choices=list(REPORTS), metavar="REPORT", help=", ".join(REPORTS))
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("--out", required=True, help="the file to write (replaced whole)")
    add_report_options(p)
    p.set_defaults(func=run)
