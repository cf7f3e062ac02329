"""What every analyst report takes and gives (:mod:`sinks.reports`): its parameters
(:class:`ReportParams`), its result (:class:`Table`), and the time buckets (``GRAINS``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from models.segments import SegmentRules
from sinks.stats.ab_tests import ExperimentRules

FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
GRAINS = {"minute": "toStartOfMinute({c})", "hour": "toStartOfHour({c})", "day": "toDate({c})",
          "week": "toMonday({c})", "month": "toStartOfMonth({c})"}
TIME_RANGE = "{c} >= {{start:DateTime64(3, 'UTC')}} AND {c} < {{end:DateTime64(3, 'UTC')}}"


@dataclass(frozen=True)
class ReportParams:
    tenant: str = "default"
    start: datetime | None = None  # inclusive, event time
    end: datetime | None = None  # exclusive
    grain: str | None = None  # a time report's bucket; None: the report's own default
    limit: int = 50
    min_support: float = 0.0
    as_of: datetime | None = None
    segment_rules: SegmentRules = field(default_factory=SegmentRules)
    experiment_rules: ExperimentRules = field(default_factory=ExperimentRules)
    include_bots: bool = False  # every report but quality: bot traffic too (sinks/analytics/bots.py)
    by: str | None = None  # kpis per device, country or source (sinks/analytics/dimensions.py)
    followup_days: float = 7.0  # automation: orders this soon after a trigger followed it
    lateness_s: float = 300.0  # quality: received this long after its event time is late
    reporting_currency: str = "USD"  # money columns' currency (sinks/analytics/currency.py)
    fx_base: str = "USD"  # the currency fx_rates are expressed in (models/currency.py)

    def bounds(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "start": self.start or FAR_PAST,
                "end": self.end or FAR_FUTURE, "reporting": self.reporting_currency, "fx_base": self.fx_base}


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    unconverted: dict[str, Decimal] = field(default_factory=dict)  # no rate: left out of money

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def grain_of(p: ReportParams, default: str, allowed: tuple[str, ...] = tuple(GRAINS)) -> str:
    """The report's time bucket: ``p.grain``, else the report's default. Weeks start on
    Monday; days, weeks and months are UTC."""
    grain = p.grain or default
    if grain not in allowed:
        raise ValueError(f"grain must be one of {', '.join(allowed)}")
    return grain
