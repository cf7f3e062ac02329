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
from sinks.report_types import column_kinds
from sinks.reports import GRAINS, REPORTS, Table
from streams.cli.command import TENANT_HELP, limit_arg, share_arg, tenant_arg, time_arg
from streams.cli.output import write_table
from streams.webhooks.delivery import post

FORMATS = ("csv", "json", "parquet", "xlsx")


def _cell_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(_cell_text(v) for v in value)
    return "" if value is None else str(value)


def _write_parquet(table: Table, path: Path) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    empty_types = {"decimal": pa.decimal128(38, 4), "datetime": pa.timestamp("us", tz="UTC"),
                   "date": pa.date32(), "int": pa.int64(), "float": pa.float64(),
                   "bool": pa.bool_(), "str": pa.string()}
    kinds = column_kinds(table)
    arrays = []
    for i, _ in enumerate(table.columns):
        # times as UTC instants, whether ClickHouse gave them with their zone or without
        values = [as_utc(v) if isinstance(v, datetime) else v for v in (row[i] for row in table.rows)]
        try:
            kind = kinds[i] or ""
            if all(v is None for v in values) and kind in empty_types:  # (no rows)
                arrays.append(pa.array(values, type=empty_types[kind]))
                continue
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
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
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    tmp = Path(temporary)
    try:
        if fmt in ("csv", "json"):
            with tmp.open("w", encoding="utf-8", newline="") as out:
                write_table(table, fmt, out)
        elif fmt == "parquet":
            _write_parquet(table, tmp)
        else:
            _write_xlsx(table, tmp)
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
        raise ShopstreamError(f"the export webhook at {url} answered {answer.error}")
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


def run(args: argparse.Namespace) -> int:
    import sys

    from models.settings import load_settings
    from streams.cli.queries import command_tenant, query_backend, report_params

    settings = load_settings()
    params = report_params(settings, tenant=command_tenant(settings, args.tenant),
                           start=args.start, end=args.end, as_of=args.as_of, grain=args.grain,
                           limit=args.limit, min_support=args.min_support,
                           include_bots=args.include_bots)
    table = query_backend(settings).report(args.name, params)
    out = Path(args.out)
    export_table(table, args.format, out)
    print(f"wrote {len(table.rows)} row(s) of {args.name} to {out} ({args.format})", file=sys.stderr)
    return 0


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("export", "write a report to a file: csv, json, parquet or xlsx")
    p.add_argument("name", choices=list(REPORTS), metavar="REPORT", help=", ".join(REPORTS))
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("--out", required=True, help="the file to write (replaced whole)")
    add_report_options(p)
    p.set_defaults(func=run)
