"""Where analyst queries run: in this process, or through the worker that owns chDB.

With embedded ClickHouse (``chdb://``) one process owns the database files. When
a worker is running on this data directory, ``shopstream report`` and
``shopstream sql`` ask it over HTTP; otherwise they open the database themselves.
With a ClickHouse server they always query it directly.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from models.currency import reporting_currencies, reporting_currency
from models.errors import ShopstreamError
from models.segments import SegmentRules
from models.settings import Settings, load_settings
from models.times import format_time
from sinks.connection import is_embedded
from sinks.report_types import typed_rows
from sinks.reports import ReportParams, Table, run_report
from sinks.sql import run_sql
from sinks.stats.ab_tests import ExperimentRules
from streams.cli.command import limit_arg, share_arg, tenant_arg, time_arg


class QueryBackend(Protocol):
    where: str

    def report(self, name: str, params: ReportParams) -> Table: ...

    def sql(self, query: str) -> Table: ...


class LocalQueries:
    def __init__(self, settings: Settings) -> None:
        from sinks.database import open_database

        self.client = open_database(settings)
        self.where = settings.resolved_clickhouse_url

    def report(self, name: str, params: ReportParams) -> Table:
        try:
            return run_report(self.client, name, params)
        except ValueError as exc:  # a parameter the report cannot take (the worker: a 400)
            raise ShopstreamError(str(exc)) from exc

    def sql(self, query: str) -> Table:
        return run_sql(self.client, query)


class WorkerQueries:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.where = f"the worker at {self.base_url}"

    def _get(self, path: str, params: dict[str, Any]) -> Table:
        body = worker_request(self.base_url, "GET", path, params, decimals=True)
        kinds = body.get("kinds") or []
        return Table(body["columns"], typed_rows(body["rows"], kinds),
                     {c: Decimal(a) for c, a in body.get("unconverted", {}).items()}, kinds)

    def report(self, name: str, params: ReportParams) -> Table:
        return self._get(f"/report/{name}", report_query(params))

    def sql(self, query: str) -> Table:
        return self._get("/sql", {"q": query})


def report_query(params: ReportParams) -> dict[str, Any]:
    """ReportParams as URL query parameters (read back by :func:`params_from_query`)."""
    out: dict[str, Any] = {}
    for key, value in asdict(params).items():
        if key in ("segment_rules", "experiment_rules") or value is None:
            continue
        if isinstance(value, bool):  # include_bots: sent only when set
            if value:
                out[key] = "true"
            continue
        out[key] = format_time(value) if isinstance(value, datetime) else value
    return out


def report_params(settings: Settings, *, tenant: str | None = None,
                  start: datetime | None = None, end: datetime | None = None,
                  as_of: datetime | None = None, grain: str | None = None, limit: int = 50,
                  min_support: float = 0.0, include_bots: bool = False,
                  by: str | None = None) -> ReportParams:
    """Report parameters with the settings' defaults (tenant, segment thresholds, experiment
    rules, reporting currency); ``grain`` None leaves each time report its own default."""
    tenant = tenant or settings.default_tenant
    currency = reporting_currency(reporting_currencies(settings.reporting_currency,
                                                       settings.reporting_currencies), tenant)
    return ReportParams(
        tenant=tenant, start=start, end=end, as_of=as_of,
        reporting_currency=currency, fx_base=settings.fx_base_currency,
        grain=grain, limit=limit, min_support=min_support, include_bots=include_bots, by=by,
        segment_rules=SegmentRules(settings.high_value_revenue, settings.frequent_buyer_orders,
                                   settings.frequent_buyer_gap_days),
        experiment_rules=ExperimentRules(settings.experiment_alpha, settings.experiment_power,
                                         settings.experiment_mde, settings.experiment_srm_alpha),
        followup_days=settings.automation_followup_days, lateness_s=settings.allowed_lateness_s,
    )


def params_from_query(query: dict[str, str], settings: Settings) -> ReportParams:
    """Report parameters from the worker's URL query (as written by :func:`report_query`),
    held to the command line's rules; a value they refuse is a ValueError naming it."""
    def value(name: str, convert: Callable[[str], Any], default: Any = None) -> Any:
        text = query.get(name)
        if not text:
            return default
        try:
            return convert(text)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"{name}: {exc}") from None

    return report_params(
        settings, tenant=value("tenant", tenant_arg), start=value("start", time_arg),
        end=value("end", time_arg), as_of=value("as_of", time_arg), grain=query.get("grain"),
        limit=value("limit", limit_arg, 50), min_support=value("min_support", share_arg, 0.0),
        include_bots=query.get("include_bots", "").lower() in ("1", "true"), by=query.get("by"),
    )


def worker_state_file(settings: Settings) -> Path:
    return settings.data_dir / "worker.json"


def running_worker(settings: Settings) -> str | None:
    """The web address of a worker running on this data directory, if any."""
    path = worker_state_file(settings)
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return str(state["web"])


def owning_worker(settings: Settings) -> str | None:
    """The web address of the worker that owns the embedded ClickHouse, if one runs: then
    queries and jobs go through it. None with a ClickHouse server, or with no worker."""
    if is_embedded(settings.resolved_clickhouse_url):
        return running_worker(settings)
    return None


def worker_request(base_url: str, method: str, path: str, params: dict[str, Any],
                   timeout: float = 300, decimals: bool = False) -> Any:
    """JSON from a worker endpoint; its ``{"error": ...}`` answers become ShopstreamError.
    ``decimals``: numbers with a fraction read as Decimal (exactly their digits), not float."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    key = load_settings().api_key  # SHOPSTREAM_API_KEY: a worker with auth on needs one
    request = urllib.request.Request(f"{base_url}{path}?{query}", method=method,
                                     data=b"" if method == "POST" else None,
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise ShopstreamError(_error_of(base_url, exc)) from exc
    except urllib.error.URLError as exc:
        raise ShopstreamError(f"cannot reach the worker at {base_url}: {exc.reason}") from exc
    try:
        return json.loads(body, parse_float=Decimal if decimals else float)
    except ValueError:
        raise ShopstreamError(f"the worker at {base_url} answered {path} with something "
                              "that is not JSON") from None


def _error_of(base_url: str, exc: urllib.error.HTTPError) -> str:
    """What a worker's error answer says: its ``{"error": ...}``, else its HTTP status (an
    answer that is not JSON, from a failure the worker did not expect)."""
    try:
        detail = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        detail = None
    if isinstance(detail, dict) and detail.get("error"):
        return str(detail["error"])
    return f"the worker at {base_url} answered {exc.code} {exc.reason}".rstrip()


def command_tenant(settings: Settings, given: str | None) -> str:
    """The tenant a command reads when it names none: the API key's (``SHOPSTREAM_API_KEY``)
    when the command goes through a worker, as the worker's HTTP answers do; else
    ``SHOPSTREAM_DEFAULT_TENANT``."""
    if given:
        return given
    web = owning_worker(settings)
    if web is not None and settings.api_key:
        tenant = worker_request(web, "GET", "/key", {}, timeout=30).get("tenant")
        if tenant:
            return str(tenant)
    return settings.default_tenant


def query_backend(settings: Settings) -> QueryBackend:
    web = owning_worker(settings)
    return WorkerQueries(web) if web is not None else LocalQueries(settings)
