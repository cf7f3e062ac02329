"""Durations as people write them: ``90s``, ``30m``, ``12h``, ``7d``, or a bare number."""

from __future__ import annotations

import re

UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_seconds(text: str | float, default_unit: str = "s") -> float:
    """Seconds in ``text``; a bare number is in ``default_unit``."""
    if isinstance(text, int | float):
        return float(text) * UNIT_SECONDS[default_unit]
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise ValueError(f"bad duration {text!r}: use e.g. 90s, 30m, 12h, 7d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2) or default_unit]


def spell(ms: float) -> str:
    """A duration for people: ``30 minutes``, ``1 day``, or ``6.7 minutes`` when the largest
    unit that fits does not divide it."""
    for unit, seconds in (("day", 86_400), ("hour", 3600), ("minute", 60), ("second", 1)):
        size = seconds * 1000
        if ms >= size:
            n = ms / size
            text = f"{n:.0f}" if ms % size == 0 else f"{n:.1f}"
            return f"{text} {unit}{'' if text == '1' else 's'}"
    return f"{ms / 1000:g} seconds"
