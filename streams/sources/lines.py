"""Reading JSON-lines input safely: bounded line length, any bytes, numbered lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"  # UTF-8's


def read_lines(stream: BinaryIO, max_bytes: int,
               blank: Callable[[int], None] = lambda number: None) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(line number, bytes without the newline, too_long)``.

    A line longer than ``max_bytes`` is skipped through in chunks (never held in
    memory whole) and yielded with ``too_long=True`` and its first bytes only. A blank line
    (white space at most) holds no event and is not yielded: ``blank`` is told its number,
    and the numbers of the lines after it still count it. A UTF-8 byte-order mark at the
    start of the file is skipped.
    """
    number = 0
    while True:
        line = stream.readline(max_bytes + 2)
        if not line:
            return
        number += 1
        if number == 1 and line.startswith(_BOM):  # a byte-order mark, as some editors write
            line = line[len(_BOM):]
        too_long = False
        if not line.endswith(b"\n") and len(line) > max_bytes:
            too_long = True
            while True:
                rest = stream.readline(_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
        line = line.rstrip(b"\r\n")
        if not too_long and (not line or line.isspace()):
            blank(number)
            continue
        if len(line) > max_bytes:
            too_long = True
        yield number, line, too_long
