"""The conversion funnel and the session rule, defined once for the live funnel and for
ClickHouse (the ``sessions`` rollup, ``report funnel``, KPIs).

A session is the context ``sessionId`` when the event has one; otherwise a shopper's run of
session-less events with gaps under 30 minutes of event time (the inactivity rule Google
Analytics and Segment-based tools use), named ``gap:<user>@<start ms>``. A session reaches a
funnel stage only after the one before it: visit -> product view -> add to cart ->
checkout -> purchase.
"""

from __future__ import annotations

from models.ecommerce import EventName

FUNNEL_STAGES = ("visit", "product_view", "add_to_cart", "checkout", "purchase")
# the events that move a session to stages 2..5 (every event of a session is a visit)
STAGE_EVENTS = (EventName.PRODUCT_VIEWED, EventName.PRODUCT_ADDED, EventName.CHECKOUT_STARTED,
                EventName.ORDER_COMPLETED)
STAGE_OF: dict[str, int] = {name: index + 2 for index, name in enumerate(STAGE_EVENTS)}
SESSION_GAP_MS = 30 * 60_000
GAP_PREFIX = "gap:"
# identify calls carry traits, not shopping: they belong to no session and are no visit
IDENTIFY_CALL = "identify"
# what sessions are made of: track and page calls; identify, alias and group calls say who
# someone is, not what they did, and open no session (a visit) by themselves
SESSION_CALLS = ("track", "page")


def continues_session(last_ms: int, ts_ms: int) -> bool:
    """Whether an event at ``ts_ms`` belongs to the session whose latest event was at
    ``last_ms`` (a gap under 30 minutes)."""
    return ts_ms - last_ms < SESSION_GAP_MS


def gap_session_id(user_key: str, start_ms: int) -> str:
    """The id of a session-less run of events that started at ``start_ms``."""
    return f"{GAP_PREFIX}{user_key}@{start_ms}"
