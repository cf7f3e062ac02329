"""Scheduled exports, decided without side effects: what a schedule is, the period it
exports next, and the file that holds it.

A schedule exports one report over the last *complete* period of its cadence, in UTC:
``daily`` yesterday, ``weekly`` last week (Monday to Monday), ``monthly`` last calendar
month. Its file is ``<export dir>/<name>/<report>-<period start>.<ext>``; a period is done
when its file exists, so a run that is repeated, or restarted after a crash, writes each
period once.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CADENCES = ("daily", "weekly", "monthly")
EXPORT_FORMATS = ("csv", "json", "parquet", "xlsx")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ScheduleError(ValueError):
    """A schedule that cannot run as written; the message says why."""


@dataclass(frozen=True)
class Schedule:
    report: str
    cadence: str
    format: str = "csv"
    name: str = ""
    tenant: str | None = None
    grain: str | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.cadence not in CADENCES:
            raise ScheduleError(f"cadence must be one of {', '.join(CADENCES)}, not {self.cadence!r}")
        if self.format not in EXPORT_FORMATS:
            raise ScheduleError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not "
                                f"{self.format!r}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.report}-{self.cadence}")
        if not _NAME.match(self.name):
            raise ScheduleError(f"a schedule name is letters, digits, '.', '_' and '-': {self.name!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_schedules(text: str, reports: tuple[str, ...]) -> list[Schedule]:
    """``SHOPSTREAM_SCHEDULE``: ``REPORT:CADENCE[:FORMAT]``, comma-separated, e.g.
    ``kpis:daily,products:weekly:xlsx``."""
    out = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) not in (2, 3):
            raise ScheduleError(f"schedule {entry!r}: write REPORT:CADENCE[:FORMAT], e.g. kpis:daily")
        fmt = parts[2] if len(parts) == 3 else "csv"
        out.append(checked(Schedule(parts[0], parts[1], fmt), reports))
    return out


def checked(schedule: Schedule, reports: tuple[str, ...]) -> Schedule:
    if schedule.report not in reports:
        raise ScheduleError(f"schedule {schedule.name}: unknown report {schedule.report!r}; "
                            f"choose from {', '.join(reports)}")
    return schedule


def last_complete_period(cadence: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the latest period of ``cadence`` that ended at or before ``now``."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if cadence == "daily":
        return today - timedelta(days=1), today
    if cadence == "weekly":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday
    if cadence == "monthly":
        first = today.replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        return previous, first
    raise ScheduleError(f"cadence must be one of {', '.join(CADENCES)}, not {cadence!r}")


def export_path(directory: Path, schedule: Schedule, start: datetime) -> Path:
    return directory / schedule.name / f"{schedule.report}-{start:%Y-%m-%d}.{schedule.format}"


def announced_marker(path: Path) -> Path:
    """Beside an export once its webhook accepted it: a later run retries until it exists."""
    return path.with_name(f".{path.name}.announced")
