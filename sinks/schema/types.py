"""Column types, SQL helpers and the migration record shared by the schema's modules."""

from __future__ import annotations

from dataclasses import dataclass

from models.funnel import STAGE_EVENTS


def sql_names(*names: str) -> str:
    """Event names as SQL string literals, comma-separated: ``'A', 'B'``."""
    return ", ".join("'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
                     for name in names)


DEDUP = "non_replicated_deduplication_window = 10000"
MONEY = "Decimal(18, 4)"
SUM_MONEY = "Decimal(38, 4)"
TIME = "DateTime64(3, 'UTC')"
FUNNEL_WINDOW_MS = 86_400_000
FUNNEL_TYPE = (f"AggregateFunction(windowFunnel({FUNNEL_WINDOW_MS}), "
               "UInt64, UInt8, UInt8, UInt8, UInt8, UInt8)")
# a session's funnel level: any event is a visit, then the stage events in order
FUNNEL_STEPS = ", ".join(["1", *(f"event = {sql_names(name)}" for name in STAGE_EVENTS)])
FUNNEL_ARGS = f"({FUNNEL_WINDOW_MS})(toUInt64(toUnixTimestamp64Milli(event_time)), {FUNNEL_STEPS})"
FUNNEL_STATE = f"windowFunnelState{FUNNEL_ARGS}"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
