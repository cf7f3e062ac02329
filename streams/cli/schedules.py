"""``shopstream schedules list|add|remove|run``: reports exported on a cadence.

Schedules come from ``SHOPSTREAM_SCHEDULE`` and from ``DATA_DIR/schedules.json`` (kept by
``add`` and ``remove``). ``run`` writes every due export to ``SHOPSTREAM_EXPORT_DIR``
(default ``DATA_DIR/exports``), then keeps checking once a minute until stopped (``--once``:
a single pass, for cron). After each file it POSTs a signed notice to
``SHOPSTREAM_EXPORT_WEBHOOK_URL`` when one is set (:func:`streams.cli.export.announce`).
Reports run where ``shopstream report`` runs them: through the worker that owns the
embedded database, or directly.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from models.errors import ShopstreamError
from models.settings import Settings
from models.times import datetime_to_ms, format_time
from sinks.reports import GRAINS, REPORTS, Table
from streams.cli.command import limit_arg, tenant_arg
from streams.cli.export import announce, export_table
from streams.cli.output import write_table
from streams.cli.queries import QueryBackend, report_params
from streams.cli.schedule_plan import (
    CADENCES,
    EXPORT_FORMATS,
    Schedule,
    ScheduleError,
    announced_marker,
    checked,
    export_path,
    last_complete_period,
    parse_schedules,
)

log = logging.getLogger(__name__)
CHECK_EVERY_S = 60.0


def schedules_file(settings: Settings) -> Path:
    return settings.data_dir / "schedules.json"


def export_dir(settings: Settings) -> Path:
    return settings.export_dir or settings.data_dir / "exports"


def saved_schedules(settings: Settings) -> list[Schedule]:
    path = schedules_file(settings)
    if not path.exists():
        return []
    try:
        return [checked(Schedule(**entry), tuple(REPORTS)) for entry in json.loads(path.read_text())]
    except (ValueError, TypeError) as exc:
        raise ShopstreamError(f"{path} is not a list of schedules: {exc}") from exc


def all_schedules(settings: Settings) -> list[Schedule]:
    """The environment's schedules, then the saved ones; names are unique."""
    try:
        found = parse_schedules(settings.schedule, tuple(REPORTS)) + saved_schedules(settings)
    except ScheduleError as exc:
        raise ShopstreamError(str(exc)) from exc
    names = [s.name for s in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ShopstreamError(f"schedule names used twice: {', '.join(twice)} (give --name)")
    return found


def save(settings: Settings, schedules: list[Schedule]) -> None:
    path = schedules_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps([s.as_dict() for s in schedules], indent=2) + "\n")
    tmp.replace(path)


@dataclass
class RunSummary:
    written: list[Path] = field(default_factory=list)
    announced: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def run_due(settings: Settings, schedules: list[Schedule], backend: QueryBackend, now: datetime,
            progress: Callable[[str], None] = lambda _: None) -> RunSummary:
    """One pass: export every schedule's last complete period not yet on disk, and announce
    every export not yet announced. A failing schedule is reported and the others go on."""
    summary = RunSummary()
    directory = export_dir(settings)
    for schedule in schedules:
        start, end = last_complete_period(schedule.cadence, now)
        path = export_path(directory, schedule, start)
        try:
            if not path.exists():
                params = report_params(settings, tenant=schedule.tenant, start=start, end=end,
                                       grain=schedule.grain, limit=schedule.limit)
                table = backend.report(schedule.report, params)
                export_table(table, schedule.format, path)
                summary.written.append(path)
                progress(f"{schedule.name}: wrote {path} ({len(table.rows)} rows, "
                         f"{start:%Y-%m-%d} to {end:%Y-%m-%d})")
            if settings.export_webhook_url and not announced_marker(path).exists():
                announce(settings.export_webhook_url, settings.export_webhook_secret, {
                    "type": "export_written", "schedule": schedule.name,
                    "report": schedule.report, "format": schedule.format,
                    "tenant": schedule.tenant or settings.default_tenant,
                    "period_start": format_time(start), "period_end": format_time(end),
                    "path": str(path.resolve()), "bytes": path.stat().st_size,
                }, idempotency_key=f"{schedule.name}:{start:%Y-%m-%d}",
                    timestamp=datetime_to_ms(now) // 1000)
                announced_marker(path).touch()
                summary.announced.append(path)
        except (ShopstreamError, ValueError, KeyError, OSError) as exc:
            summary.failed.append(f"{schedule.name}: {exc}")
            progress(f"{schedule.name}: failed, tried again on the next pass: {exc}")
    return summary


def _listing(settings: Settings, schedules: list[Schedule], now: datetime) -> Table:
    rows = []
    for s in schedules:
        start, _ = last_complete_period(s.cadence, now)
        path = export_path(export_dir(settings), s, start)
        rows.append([s.name, s.report, s.cadence, s.format, s.tenant or settings.default_tenant,
                     s.grain or "", str(path), path.exists()])
    return Table(["name", "report", "cadence", "format", "tenant", "grain", "latest_file",
                  "written"], rows)


def run(args: argparse.Namespace) -> int:
    from models.settings import load_settings
    from streams.cli.queries import command_tenant, query_backend

    settings = load_settings()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.action == "add":
        if not args.report or not args.cadence:
            raise ShopstreamError("schedules add needs a REPORT and --cadence daily|weekly|monthly")
        try:
            new = checked(Schedule(args.report, args.cadence, args.format, args.name or "",
                                   args.tenant, args.grain, args.limit), tuple(REPORTS))
        except ScheduleError as exc:
            raise ShopstreamError(str(exc)) from exc
        if new.name in {s.name for s in all_schedules(settings)}:
            raise ShopstreamError(f"a schedule named {new.name} exists; remove it or give --name")
        # the tenant it keeps, whoever runs it: --tenant, else the API key's through a worker
        # (as `report` reads it), else SHOPSTREAM_DEFAULT_TENANT, as it is now
        new = replace(new, tenant=command_tenant(settings, args.tenant))
        save(settings, [*saved_schedules(settings), new])
        say(f"added {new.name}: {new.report} {new.cadence} as {new.format} for tenant {new.tenant}")
        return 0
    if args.action == "remove":
        if not args.report:
            raise ShopstreamError("schedules remove needs a NAME: the schedule's name "
                                  "(`shopstream schedules list` shows them)")
        saved = saved_schedules(settings)
        kept = [s for s in saved if s.name != args.report]
        if len(kept) == len(saved):
            raise ShopstreamError(f"no saved schedule named {args.report!r} "
                                  "(schedules from SHOPSTREAM_SCHEDULE are removed there)")
        save(settings, kept)
        say(f"removed {args.report}")
        return 0
    schedules = all_schedules(settings)
    if args.action == "list":
        write_table(_listing(settings, schedules, datetime.now(UTC)), args.list_format, sys.stdout)
        return 0
    if not schedules:
        raise ShopstreamError("no schedules: set SHOPSTREAM_SCHEDULE or `shopstream schedules add`")
    backend = query_backend(settings)
    say(f"exporting {len(schedules)} schedule(s) to {export_dir(settings)}"
        + ("" if args.once else f", checking every {CHECK_EVERY_S:g} s; Ctrl-C stops"))
    while True:
        summary = run_due(settings, schedules, backend, datetime.now(UTC), say)
        if args.once:
            say(f"{len(summary.written)} written, {len(summary.announced)} announced, "
                f"{len(summary.failed)} failed")
            return 1 if summary.failed else 0
        time.sleep(CHECK_EVERY_S)


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("schedules", "scheduled report exports: list, add, remove, run")
    p.add_argument("action", choices=["list", "add", "remove", "run"])
    p.add_argument("report", nargs="?", help="add: the report; remove: the schedule's name")
    p.add_argument("--cadence", choices=CADENCES, help="add: daily, weekly or monthly")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="csv", help="add: the file format")
    p.add_argument("--name", help="add: the schedule's name (default REPORT-CADENCE)")
    p.add_argument("--tenant", type=tenant_arg, help="add: tenant (default: $SHOPSTREAM_DEFAULT_TENANT)")
    p.add_argument("--grain", choices=list(GRAINS), help="add: time reports' bucket")
    p.add_argument("--limit", type=limit_arg, default=50,
                   help="add: rows of products, affinity, customers (>= 1)")
    p.add_argument("--once", action="store_true", help="run: one pass, then exit (for cron)")
    p.add_argument("--list-format", choices=["table", "csv", "json"], default="table",
                   help="list: output format")
    p.set_defaults(func=run)
