"""Which period a schedule exports next, where its file goes, and how schedules are written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.cli.schedule_plan import (
    Schedule,
    ScheduleError,
    export_path,
    last_complete_period,
    parse_schedules,
)

REPORTS = ("kpis", "products", "funnel")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("cadence", "now", "period"), [
    ("daily", at(2026, 3, 4, 8), (at(2026, 3, 3), at(2026, 3, 4))),
    ("daily", at(2026, 3, 1, 0), (at(2026, 2, 28), at(2026, 3, 1))),  # midnight: yesterday is done
    ("weekly", at(2026, 3, 4, 8), (at(2026, 2, 23), at(2026, 3, 2))),  # Wednesday
    ("weekly", at(2026, 3, 2, 0), (at(2026, 2, 23), at(2026, 3, 2))),  # Monday midnight
    ("weekly", at(2026, 3, 1, 23), (at(2026, 2, 16), at(2026, 2, 23))),  # Sunday: week not over
    ("monthly", at(2026, 3, 4, 8), (at(2026, 2, 1), at(2026, 3, 1))),
    ("monthly", at(2026, 1, 1, 0), (at(2025, 12, 1), at(2026, 1, 1))),  # across the year
])
def test_last_complete_period(cadence, now, period):
    assert last_complete_period(cadence, now) == period


def test_environment_schedules():
    assert parse_schedules(" kpis:daily , products:weekly:xlsx,", REPORTS) == [
        Schedule("kpis", "daily", "csv", "kpis-daily"),
        Schedule("products", "weekly", "xlsx", "products-weekly")]
    assert parse_schedules("", REPORTS) == []
    for text, message in (("kpis", "write REPORT:CADENCE"), ("kpis:hourly", "cadence must be"),
                          ("kpis:daily:pdf", "format must be"), ("sales:daily", "unknown report")):
        with pytest.raises(ScheduleError, match=message):
            parse_schedules(text, REPORTS)


def test_export_path_names_the_period():
    schedule = Schedule("kpis", "weekly", "parquet", name="board")
    assert export_path(Path("out"), schedule, at(2026, 2, 23)) == Path(
        "out/board/kpis-2026-02-23.parquet")
    with pytest.raises(ScheduleError, match="a schedule name is"):
        Schedule("kpis", "daily", name="../etc")
