"""Who an event is from: the device key events are partitioned by, the links that identify
and alias calls make, and the traits an automation tool needs (pure).

- The **device key** (the Kafka key of ``shop.events`` and of ``shop.events.raw``) is the
  ``anonymousId`` when the event has one (an alias call without one: its ``previousId``),
  else the ``userId``. Segment's libraries and ``/sdk.js`` keep sending the anonymousId
  after ``identify``, so one browser's events stay on one partition across a login, and
  the live state sees the anonymous cart and the logged-in shopper together.
- A **link** ties an anonymous id to a user id: ``identify`` with both ids links its
  anonymousId; ``alias`` links its previousId (and its anonymousId, when sent) to its userId.
- The **person** of an event is where its key (userId, else anonymousId) leads through the
  links (:func:`follow_links`): a user id that was itself aliased to another user id goes on
  to that one, up to :data:`MAX_LINK_HOPS` links, and a walk that would come back to an id
  it passed stops before it (ClickHouse: ``sinks/schema/identity.py``; live:
  ``streams/live/identities.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from models.funnel import IDENTIFY_CALL
from models.limits import MAX_ID_CHARS

ALIAS_CALL = "alias"
# the traits triggers carry (Segment's reserved contact traits), when the shopper sent them
CONTACT_TRAITS = ("email", "phone", "name", "firstName", "lastName", "username")
# the most links followed from an event's key to its person (anonymous id -> user id ->
# the user id it was aliased to -> ...); ClickHouse joins the links once per hop
MAX_LINK_HOPS = 3


def device_key(user_id: str | None, anonymous_id: str | None,
               previous_id: str | None = None) -> str:
    """The Kafka key of an event: its anonymousId, else an alias call's previousId, else its
    userId ('' when none)."""
    return anonymous_id or previous_id or user_id or ""


def raw_device_key(obj: Mapping[str, Any]) -> bytes | None:
    """:func:`device_key` of an event as sent, before validation (the Segment fields, else the
    flat envelope's ``anonymous_id`` / ``user_id``), for the producers of ``shop.events.raw``;
    None when it names nobody. Cut at the longest id the contract allows: it only routes."""
    ident = (obj.get("anonymousId") or obj.get("previousId") or obj.get("userId")
             or obj.get("anonymous_id") or obj.get("user_id"))
    return None if ident is None else str(ident).encode()[:MAX_ID_CHARS]


def linked_ids(call: str, user_id: str | None, anonymous_id: str | None,
               previous_id: str | None) -> list[str]:
    """The ids this call links to ``user_id`` (none for a call that links nothing)."""
    if not user_id or call not in (IDENTIFY_CALL, ALIAS_CALL):
        return []
    candidates = [anonymous_id] if call == IDENTIFY_CALL else [previous_id, anonymous_id]
    out: list[str] = []
    for ident in candidates:
        if ident and ident != user_id and ident not in out:
            out.append(ident)
    return out


def contact_traits(traits: Mapping[str, Any] | None) -> dict[str, str]:
    """The contact traits of an identify call (:data:`CONTACT_TRAITS`), as text; a trait that
    is empty, not a scalar or longer than an id may be is left out."""
    if not traits:
        return {}
    out: dict[str, str] = {}
    for name in CONTACT_TRAITS:
        value = traits.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        text = str(value).strip()
        if text and len(text) <= MAX_ID_CHARS:
            out[name] = text
    return out


def follow_links(key: str, link_of: Callable[[str], str | None],
                 max_hops: int = MAX_LINK_HOPS) -> str:
    """The person ``key`` resolves to: follow ``link_of`` (an id's latest link, None when it
    has none) at most ``max_hops`` times, stopping at an id with no link or before an id
    already passed (links that form a cycle); ``key`` itself when it is linked to nothing.
    ``sinks/schema/identity.py`` writes the same walk in SQL."""
    passed = [key]
    for _ in range(max_hops):
        nxt = link_of(passed[-1])
        if not nxt or nxt in passed:
            break
        passed.append(nxt)
    return passed[-1]
