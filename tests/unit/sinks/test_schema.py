"""The schema's SQL is built from the contract and the session rule, not spelled again."""

from __future__ import annotations

from models.ecommerce import EventName
from models.funnel import GAP_PREFIX, SESSION_GAP_MS, STAGE_EVENTS
from sinks.schema import FUNNEL_STATE, MIGRATIONS, SESSION_EVENTS_VIEW, sql_names


def test_sql_names_quotes_and_joins():
    assert sql_names(EventName.PRODUCT_VIEWED, EventName.ORDER_COMPLETED) == (
        "'Product Viewed', 'Order Completed'")
    assert sql_names("it's \\ odd") == "'it\\'s \\\\ odd'"


def test_migrations_are_numbered_in_order():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_funnel_steps_follow_the_stage_events():
    steps = FUNNEL_STATE.split(", 1, ", 1)[1]
    assert steps == ", ".join(f"event = '{name}'" for name in STAGE_EVENTS) + ")"


def test_session_view_uses_the_one_gap_and_id_rule():
    assert f">= {SESSION_GAP_MS}" in SESSION_EVENTS_VIEW
    assert f"'{GAP_PREFIX}', user_key, '@'" in SESSION_EVENTS_VIEW
    assert SESSION_EVENTS_VIEW in MIGRATIONS[5].statements  # migration 6
