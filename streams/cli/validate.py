"""``shopstream validate``: check JSON lines against the contract, one verdict per line."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import BinaryIO

from models.serde import dumps
from models.validation import Rules, validate_line
from streams.sources.lines import read_lines


def validate_stream(
    source: BinaryIO,
    sink: BinaryIO,
    rules: Rules,
    clock: Callable[[], datetime],
    err: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> int:
    """Write a verdict line per input line; return the exit code (0 all valid, 1 not)."""
    valid = invalid = 0
    codes: Counter[str] = Counter()
    blank: list[int] = []  # the first few blank lines' numbers, and how many in all
    skipped = 0

    def blank_line(number: int) -> None:
        nonlocal skipped
        skipped += 1
        if len(blank) < 5:
            blank.append(number)

    for number, line, too_long in read_lines(source, rules.max_event_bytes, blank_line):
        result = validate_line(line, too_long, rules, clock())
        issues, event = result.issues, result.canonical
        if event is not None:
            valid += 1
            sink.write(dumps({"line": number, "ok": True, "event": event}) + b"\n")
        else:
            invalid += 1
            codes.update(str(issue.code) for issue in issues)
            verdict = {"line": number, "ok": False, "errors": [i.as_dict() for i in issues]}
            sink.write(dumps(verdict) + b"\n")
    sink.flush()
    summary = f"validated {valid + invalid} lines: {valid} valid, {invalid} invalid"
    if codes:
        summary += " (" + ", ".join(f"{code}: {n}" for code, n in codes.most_common()) + ")"
    if skipped:
        summary += (f"; {skipped} blank line{'s' if skipped > 1 else ''} skipped "
                    f"(line {', '.join(str(n) for n in blank)}{', ...' if skipped > 5 else ''})")
    err(summary)
    return 0 if invalid == 0 else 1
