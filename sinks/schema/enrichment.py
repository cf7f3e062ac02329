"""Migration 9: the enrichment columns of ``events`` and the bot flag through the session views.

``events`` gains the validation stage's enrichment (:mod:`models.enrichment`; filled by
:func:`sinks.rows.event_row`, empty / 0 in rows written before). Sessions carry ``is_bot``
(a session with any bot event is a bot's) and the first device type, country and source
class of their events, so reports can leave bots out or include them; ``funnel_daily``, a
ready-made view, leaves them out. The session rule itself is unchanged: these statements
are migration 6's views with the columns added.
"""

from __future__ import annotations

from sinks.rows import ENRICHED_COLUMNS
from sinks.schema.sessions import (
    FUNNEL_DAILY_VIEW,
    SESSION_EVENT_COLUMNS,
    SESSION_EVENTS_VIEW,
    SESSION_SUMMARY_VIEW,
)

ENRICHED_TYPES = {"is_bot": "UInt8"}  # the others: LowCardinality(String)
ADD_ENRICHMENT = "ALTER TABLE events " + ", ".join(
    f"ADD COLUMN IF NOT EXISTS {name} {ENRICHED_TYPES.get(name, 'LowCardinality(String)')}"
    for name in ENRICHED_COLUMNS)

SESSION_DIMENSIONS = ("device_type", "country", "source_class")
_SESSION_COLUMNS = SESSION_EVENT_COLUMNS + ", is_bot, " + ", ".join(SESSION_DIMENSIONS)


def _replaced(statement: str, old: str, new: str, count: int = 1) -> str:
    """``statement`` with ``old`` replaced; fails at import if migration 6's text moved."""
    if statement.count(old) != count:
        raise ValueError(f"expected {count} of {old!r} in a migration-6 statement")
    return statement.replace(old, new)


SESSION_EVENTS_WITH_BOTS = _replaced(
    _replaced(SESSION_EVENTS_VIEW, "CREATE VIEW IF NOT EXISTS session_events",
              "CREATE OR REPLACE VIEW session_events"),
    SESSION_EVENT_COLUMNS, _SESSION_COLUMNS, count=3)

SESSION_SUMMARY_WITH_BOTS = _replaced(
    SESSION_SUMMARY_VIEW, "    count() AS events,",
    "    max(e.is_bot) AS is_bot,\n"
    + "".join(f"    argMin(e.{name}, e.event_time) AS {name},\n" for name in SESSION_DIMENSIONS)
    + "    count() AS events,")

FUNNEL_DAILY_WITHOUT_BOTS = _replaced(
    FUNNEL_DAILY_VIEW, "FROM session_summary\n", "FROM session_summary\nWHERE is_bot = 0\n")

ENRICHMENT_STATEMENTS = (ADD_ENRICHMENT, SESSION_EVENTS_WITH_BOTS, SESSION_SUMMARY_WITH_BOTS,
                         FUNNEL_DAILY_WITHOUT_BOTS)
