"""What every analyst report takes and gives (:mod:`sinks.reports`): its parameters
(:class:`ReportParams`), its result (:class:`Table`) and how its values travel as JSON
(:func:`column_kinds`, :func:`typed_rows`), and the time buckets (``GRAINS``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from models.segments import SegmentRules
from models.times import parse_iso
from sinks.stats.ab_tests import ExperimentRules

FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
GRAINS = {"minute": "toStartOfMinute({c})", "hour": "toStartOfHour({c})", "day": "toDate({c})",
          "week": "toMonday({c})", "month": "toStartOfMonth({c})"}
TIME_RANGE = "{c} >= {{start:DateTime64(3, 'UTC')}} AND {c} < {{end:DateTime64(3, 'UTC')}}"


ALL_ROWS = 2**32 - 1  # the LIMIT of a report asked for every row (``limit`` 0)


@dataclass(frozen=True)
class ReportParams:
    tenant: str = "default"
    start: datetime | None = None  # inclusive, event time
    end: datetime | None = None  # exclusive
    grain: str | None = None  # a time report's bucket; None: the report's own default
    limit: int = 50  # rows of products, affinity, customers; 0: every row
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
    # what each column holds (:func:`column_kinds`), its values or none: from ClickHouse's
    # column types (:func:`query_table`), those a report computed in Python names
    # (:func:`kinds_of_types`), or a worker's answer; [] when not known
    kinds: list[str | None] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def grain_of(p: ReportParams, default: str, allowed: tuple[str, ...] = tuple(GRAINS)) -> str:
    """The report's time bucket: ``p.grain``, else the report's default. Weeks start on
    Monday; days, weeks and months are UTC."""
    grain = p.grain or default
    if grain not in allowed:
        raise ValueError(f"grain must be one of {', '.join(allowed)}")
    return grain


def query_table(client: Client, sql: str, parameters: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Table:
    """The result of a query as a Table. An empty result keeps its column names (the
    embedded engine's client gives none for it: they are asked of ClickHouse with
    ``DESCRIBE``), so an empty report's CSV still has its header."""
    result = client.query(sql, parameters=parameters, settings=settings)
    columns = list(result.column_names)
    types = [t.name for t in result.column_types]
    if not columns:
        try:
            described = client.query(f"DESCRIBE ({sql})", parameters=parameters,
                                     settings=settings)
            columns = [str(row[0]) for row in described.result_rows]
            types = [str(row[1]) for row in described.result_rows]
        except DatabaseError:  # not a query that has columns (SHOW, EXPLAIN ...)
            pass
    kinds = [kind_of_type(t) for t in types] if len(types) == len(columns) else []
    return Table(columns, [list(row) for row in result.result_rows], kinds=kinds)


_TYPE_KINDS = (("Decimal", "decimal"), ("DateTime", "datetime"), ("Date", "date"),
               ("Bool", "bool"), ("UInt", "int"), ("Int", "int"), ("Float", "float"),
               ("String", "str"), ("FixedString", "str"), ("UUID", "str"), ("Enum", "str"))
_DECIMAL_PRECISIONS = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}
_DECIMAL = re.compile(r"^(Decimal(?:32|64|128|256)?)\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")


def kind_of_type(clickhouse_type: str) -> str | None:
    """The kind (:func:`column_kinds`) of a ClickHouse column type: ``Nullable(Decimal(18,
    4))`` holds ``decimal(18,4)`` (a decimal kind names its precision and scale, as
    ``Decimal64(4)`` does not); None for the types no kind names (arrays, maps, ...)."""
    name = clickhouse_type
    while name.startswith(("Nullable(", "LowCardinality(")):
        name = name[name.index("(") + 1:-1]
    decimal = _DECIMAL.match(name)
    if decimal:
        family, first, second = decimal.groups()
        precision, scale = ((int(first), int(second)) if family == "Decimal"
                            else (_DECIMAL_PRECISIONS[family], int(first)))
        return f"decimal({precision},{scale})"
    return next((kind for prefix, kind in _TYPE_KINDS if name.startswith(prefix)), None)


def kinds_of_types(clickhouse_types: list[str]) -> list[str | None]:
    """The kinds of a report's columns from their ClickHouse types (or the types they would
    have: a report computed in Python names them, so an empty one is typed as a full one)."""
    return [kind_of_type(t) for t in clickhouse_types]


def base_kind(kind: str | None) -> str | None:
    """``decimal`` of ``decimal(38,4)``; any other kind as it is."""
    return kind.split("(", 1)[0] if kind else kind


def decimal_digits(kind: str | None) -> tuple[int, int] | None:
    """(precision, scale) of a decimal kind that names them (``decimal(38,4)``), else None."""
    if not kind or not kind.startswith("decimal(") or not kind.endswith(")"):
        return None
    try:
        precision, scale = (int(part) for part in kind[len("decimal("):-1].split(","))
    except ValueError:
        return None
    return precision, scale


def _kind(value: Any) -> str | None:
    # bool before int (a bool is an int), datetime before date (a datetime is a date)
    for kind, types in (("bool", bool), ("decimal", Decimal), ("int", int), ("float", float),
                        ("datetime", datetime), ("date", date), ("str", str)):
        if isinstance(value, types):
            return kind
    return None


def column_kinds(table: Table) -> list[str | None]:
    """What each column holds (``decimal(P,S)``, ``decimal`` where P and S are not known,
    ``datetime``, ``date``, ``int``, ``float``, ``bool``, ``str``; None: not known, or
    something else): the table's ``kinds`` (its ClickHouse types) where its values agree,
    else its first value that is not None. Sent with a table as JSON, whose numbers and
    strings would otherwise come back as floats and text (a worker's answer to the command
    line, written to Parquet with the same types as on the database directly)."""
    kinds: list[str | None] = []
    for index in range(len(table.columns)):
        first = next((row[index] for row in table.rows if row[index] is not None), None)
        known = table.kinds[index] if len(table.kinds) == len(table.columns) else None
        if first is None or (known is not None and base_kind(known) == _kind(first)):
            kinds.append(known)
        else:
            kinds.append(_kind(first))
    return kinds


def _floats(value: Any) -> Any:
    """A value of no kind (an array, a map, ...) with its numbers as JSON gives them locally."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def typed_rows(rows: list[list[Any]], kinds: list[str | None]) -> list[list[Any]]:
    """Rows read back from JSON (numbers with a fraction as Decimal: ``parse_float=Decimal``)
    with each column's values as :func:`column_kinds` said they were."""
    convert: dict[str, Any] = {
        "decimal": lambda v: v if isinstance(v, Decimal) else Decimal(str(v)),
        "float": float, "datetime": parse_iso, "date": date.fromisoformat}
    converters = [convert.get(base_kind(kind) or "") if kind else _floats for kind in kinds]
    if not kinds and rows:  # (a worker older than the kinds: its numbers as they were)
        converters = [_floats] * len(rows[0])
    return [[value if value is None or fn is None else fn(value)
             for value, fn in zip(row, converters, strict=True)] for row in rows]
