"""Writing a result table as a terminal table, CSV or JSON (reports and ``sql``)."""

from __future__ import annotations

import csv
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

from models.currency import amounts_text
from models.serde import dumps
from models.times import format_time
from sinks.reports import Table

FORMATS = ("table", "csv", "json")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def say_unconverted(table: Table) -> None:
    """On stderr: the amounts in currencies without a rate, left out of the money figures."""
    if table.unconverted:
        print("not converted (no exchange rate; `shopstream fx load`), left out of the money "
              "figures: " + amounts_text(table.unconverted), file=sys.stderr)


def write_table(table: Table, fmt: str, out: TextIO | None = None) -> None:
    """``table`` as JSON, CSV or aligned text on ``out`` (the standard output of the moment:
    ``sys.stdout`` is looked up at the call, so a redirection made after import holds)."""
    out = out if out is not None else sys.stdout
    say_unconverted(table)
    if fmt == "json":
        records = [{c: (list(v) if isinstance(v, tuple) else v) for c, v in r.items()}
                   for r in table.records()]
        out.write(dumps(records).decode() + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.columns)
        for row in table.rows:
            writer.writerow([_text(v) for v in row])
    else:
        out.write(plain_table(table))


def plain_table(table: Table) -> str:
    """Aligned columns, numbers to the right, never wrapped (pipes and terminals alike)."""
    if not table.columns:
        return "(0 rows)\n"
    cells = [[_text(v) for v in row] for row in table.rows]
    numeric = [all(isinstance(row[i], int | float | Decimal) and not isinstance(row[i], bool)
                   for row in table.rows if row[i] is not None) and bool(table.rows)
               for i in range(len(table.columns))]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(table.columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    lines = [line(table.columns), "  ".join("-" * w for w in widths)]
    lines.extend(line(row) for row in cells)
    lines.append(f"({len(table.rows)} row{'s' if len(table.rows) != 1 else ''})")
    return "\n".join(lines) + "\n"
