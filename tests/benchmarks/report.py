"""The benchmark's one table: what | figure | ratio, printed and written as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    key: str                        # "1", "6b", ... (what a ratio refers to)
    what: str
    figure: float
    unit: str                       # "ev/s", "rows/s", "ms", "MiB", "x"
    ratio: float | None = None
    ratio_to: str | None = None     # the key of the row the ratio divides by


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, what: str, figure: float, unit: str,
            ratio_to: str | None = None) -> Row:
        """A row; with ``ratio_to``, its ratio to that row's figure (when it was measured)."""
        base = next((r for r in self.rows if r.key == ratio_to), None)
        ratio = figure / base.figure if base is not None and base.figure else None
        if ratio_to == key:
            ratio = 1.0
        row = Row(key, what, figure, unit, ratio, ratio_to if ratio is not None else None)
        self.rows.append(row)
        return row

    def table(self) -> str:
        cells = [("", "what", "figure", "ratio")]
        for row in self.rows:
            figure = f"{row.figure:,.2f}" if row.unit == "x" else f"{row.figure:,.0f} {row.unit}"
            ratio = "" if row.ratio is None else (
                "1.00" if row.ratio_to == row.key else f"{row.ratio:.3f} of ({row.ratio_to})")
            cells.append((f"{row.key}.", row.what, figure, ratio))
        widths = [max(len(c[i]) for c in cells) for i in range(4)]
        lines = []
        for i, cell in enumerate(cells):
            lines.append(f"{cell[0]:<{widths[0]}} {cell[1]:<{widths[1]}} | {cell[2]:>{widths[2]}} | "
                         f"{cell[3]}")
            if i == 0:
                lines.append("-" * (sum(widths) + 9))
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps({**self.context, "rows": [asdict(r) for r in self.rows]},
                                   indent=2) + "\n")
