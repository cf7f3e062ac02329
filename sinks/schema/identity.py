"""Migration 12: who is who. Links between ids, people's traits, and the one resolution of
an event's person that every per-person figure uses.

- ``identities``: one row per link (``identify`` with both ids: anonymousId -> userId;
  ``alias``: previousId, and anonymousId when sent, -> userId), kept by
  ``identities_mv`` from the identify and alias rows of ``events``. An id linked twice
  follows its latest link (``identity_links``); ``identity_map`` follows the links on from
  there (:func:`models.identity.follow_links`: at most ``MAX_LINK_HOPS`` links, one join of
  ``identity_links`` each, stopping before an id the walk passed), so an anonymous id whose
  user was later aliased to another user id resolves to that one.
- ``users``: the traits of each user's latest identify call (JSON, and its email, phone and
  name), written by the sink (:func:`sinks.rows.user_rows`); the only table that holds
  traits. ``user_profiles`` adds the person's first and last event.
- The **person** of a row is the user id its ``user_key`` (userId, else anonymousId) is
  linked to, else the ``user_key`` itself: :data:`PERSON`, over :data:`IDENTITY_JOIN`.
  ``resolved_events`` and ``resolved_order_items`` are ``events`` and ``order_items`` with
  ``user_key`` resolved so (the key as sent is ``sent_user_key``); the reports read them for
  customers, RFM, cohorts, lifetime inputs and sessions, and the recommender for its
  shoppers. Resolution happens when queried, so a link also joins the events sent before
  it. ``resolved_events`` also gives each row's ``device`` (:data:`DEVICE`).
- Sessions (``session_events``) run the gap rule per device, as the live funnel does, and
  name the person as the session's ``user_key``.
"""

from __future__ import annotations

from models.funnel import GAP_PREFIX, IDENTIFY_CALL, SESSION_CALLS
from models.identity import ALIAS_CALL, MAX_LINK_HOPS
from sinks.schema.enrichment import SESSION_EVENTS_WITH_BOTS
from sinks.schema.sessions import LEGACY_BUCKET_ID, SESSION_RUN
from sinks.schema.types import DEDUP, TIME, sql_names

IDENTITIES = f"""
CREATE TABLE IF NOT EXISTS identities (
    tenant        LowCardinality(String),
    anonymous_id  String,
    user_id       String,
    linked_at     {TIME}
)
ENGINE = ReplacingMergeTree(linked_at)
ORDER BY (tenant, anonymous_id, user_id)
SETTINGS {DEDUP}
"""

# the ids an identify or alias row links to its user_id (models.identity.linked_ids)
_LINKED = (f"arrayDistinct(arrayFilter(x -> x != '' AND x != user_id, "
           f"if(type = '{ALIAS_CALL}', [previous_id, anonymous_id], [anonymous_id])))")

IDENTITIES_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS identities_mv TO identities AS
SELECT tenant, arrayJoin({_LINKED}) AS anonymous_id, user_id, event_time AS linked_at
FROM events
WHERE type IN ('{IDENTIFY_CALL}', '{ALIAS_CALL}') AND user_id != ''
"""

IDENTITY_LINKS = """
CREATE VIEW IF NOT EXISTS identity_links AS
SELECT tenant, anonymous_id, argMax(user_id, linked_at) AS user_id
FROM identities
GROUP BY tenant, anonymous_id
"""


def _identity_map(hops: int) -> str:
    """Each linked id and the person it leads to: hop ``k`` is the latest link of the id hop
    ``k - 1`` reached, taken while it exists and names no id passed before."""
    targets = [f"l{k}.user_id" for k in range(1, hops + 1)]
    joins = "".join(f"LEFT ANY JOIN identity_links AS l{k} ON l{k}.tenant = l1.tenant "
                    f"AND l{k}.anonymous_id = l{k - 1}.user_id\n" for k in range(2, hops + 1))
    goes_on: list[str] = []  # hop k is taken: every hop up to k found a new id
    for k in range(2, hops + 1):
        passed = ["l1.anonymous_id", *targets[:k - 1]]
        goes_on.append(" AND ".join(
            [*goes_on[-1:], f"{targets[k - 1]} != ''",
             *(f"{targets[k - 1]} != {before}" for before in passed)]))
    branches = "".join(f"{goes_on[k - 2]}, {targets[k - 1]}, " for k in range(hops, 1, -1))
    person = f"multiIf({branches}{targets[0]})" if branches else targets[0]
    return (f"\nCREATE VIEW IF NOT EXISTS identity_map AS\n"
            f"SELECT l1.tenant AS tenant, l1.anonymous_id AS anonymous_id, {person} AS user_id\n"
            f"FROM identity_links AS l1\n{joins}")


IDENTITY_MAP = _identity_map(MAX_LINK_HOPS)

USERS = f"""
CREATE TABLE IF NOT EXISTS users (
    tenant        LowCardinality(String),
    user_id       String,
    anonymous_id  String,
    traits        String CODEC(ZSTD(3)),
    email         String,
    phone         String,
    name          String,
    updated_at    {TIME}
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant, user_id)
SETTINGS {DEDUP}
"""


def identity_join(alias: str) -> str:
    """The join that resolves the rows of table ``alias`` (``idm`` is the identity map)."""
    return (f"LEFT ANY JOIN identity_map AS idm "
            f"ON idm.tenant = {alias}.tenant AND idm.anonymous_id = {alias}.user_key")


def person(alias: str) -> str:
    """The person of a row of table ``alias`` joined by :func:`identity_join`."""
    return f"if(idm.user_id != '', idm.user_id, {alias}.user_key)"


PERSON = person("src")
IDENTITY_JOIN = identity_join("src")


def resolved(query: str) -> str:
    """The rows of ``query`` (which gives ``tenant`` and ``user_key``) with ``user_key``
    resolved to the person."""
    return (f"SELECT src.* REPLACE ({PERSON} AS user_key)\nFROM ({query}) AS src\n"
            f"{IDENTITY_JOIN}")


# the device of an events row (models.identity.device_key: anonymousId, else an alias call's
# previousId, else userId); the live state's runs and carts follow it
DEVICE = ("multiIf(src.anonymous_id != '', src.anonymous_id, src.previous_id != '', "
          "src.previous_id, src.user_key)")


def _resolved(view: str, table: str, extra: str = "") -> str:
    return f"""
CREATE VIEW IF NOT EXISTS {view} AS
SELECT src.* REPLACE ({PERSON} AS user_key), src.user_key AS sent_user_key{extra}
FROM {table} AS src
{IDENTITY_JOIN}
"""


RESOLVED_EVENTS = _resolved("resolved_events", "events", f", {DEVICE} AS device")
RESOLVED_ORDER_ITEMS = _resolved("resolved_order_items", "order_items")

USER_PROFILES = """
CREATE VIEW IF NOT EXISTS user_profiles AS
SELECT u.tenant AS tenant, u.user_id AS user_id, u.anonymous_id AS anonymous_id,
       u.traits AS traits, u.email AS email, u.phone AS phone, u.name AS name,
       u.updated_at AS updated_at, s.first_seen AS first_seen, s.last_seen AS last_seen
FROM (SELECT * FROM users FINAL) AS u
LEFT JOIN (
    SELECT tenant, user_key, min(event_time) AS first_seen, max(event_time) AS last_seen
    FROM resolved_events
    WHERE user_key IN (SELECT user_id FROM users)
    GROUP BY tenant, user_key
) AS s ON s.tenant = u.tenant AND s.user_key = u.user_id
"""


def _replaced(statement: str, old: str, new: str) -> str:
    if statement.count(old) != 1:
        raise ValueError(f"expected one {old!r} in the session_events view")
    return statement.replace(old, new)


def _by_device(statement: str) -> str:
    """Migration 9's session_events over resolved events: the session's ``user_key`` is the
    person, the gap rule runs per device (the live funnel's runs, whose ids it gives), and
    the "no session id sent" bucket id is recognised by the key it was built from."""
    statement = _replaced(statement, "    FROM events\n", "    FROM resolved_events\n")
    statement = _replaced(statement, LEGACY_BUCKET_ID,
                          LEGACY_BUCKET_ID.replace("user_key", "sent_user_key"))
    statement = _replaced(statement, "AS sent_session,", "AS sent_session, device,")
    statement = _replaced(statement, f"concat('{GAP_PREFIX}', user_key,",
                          f"concat('{GAP_PREFIX}', device,")
    if statement.count(SESSION_RUN) != 2:
        raise ValueError("expected the gap run twice in the session_events view")
    return statement.replace(SESSION_RUN, SESSION_RUN.replace("user_key", "device"))


SESSION_EVENTS_BY_PERSON = _by_device(SESSION_EVENTS_WITH_BOTS)
# migration 15: sessions made of track and page calls only (an alias or group call, or a
# run of them, was a session, a visit in the funnel and the kpis)
SESSION_EVENTS_OF_SESSION_CALLS = _replaced(
    SESSION_EVENTS_BY_PERSON, f"WHERE type != '{IDENTIFY_CALL}' AND user_key != ''",
    f"WHERE type IN ({sql_names(*SESSION_CALLS)}) AND user_key != ''")

IDENTITY_STATEMENTS = (IDENTITIES, IDENTITIES_MV, IDENTITY_LINKS, IDENTITY_MAP, USERS,
                       RESOLVED_EVENTS, RESOLVED_ORDER_ITEMS, USER_PROFILES,
                       SESSION_EVENTS_BY_PERSON)
