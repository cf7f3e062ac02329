"""Forgetting erased people in one partition's live state (pure).

An id counts as erased when the suppression list says so, or when this partition's identity
links lead from it to an erased id (an anonymous id linked by identify or alias here, even
if ClickHouse never saw the link). Removed, each with a changelog tombstone:

- open carts and abandonments awaiting recovery (their shopper key, user id or anonymous id);
- the customer record;
- the identity links of the person's ids and their contact traits (``i|``, ``p|`` keys);
- the funnel sessions opened by one of their devices (``who``), the session-less runs of
  events (``gap:<device>@<start>``), and the sessions named by a removed cart's
  ``sessionId`` (sessions restored from states written before ``who`` was kept);
- in memory only: the run-of-events index and the "active shopper" note.

What it returns is the changelog writes that tombstone the removed keys (key -> None), to be
coalesced with the stage's other writes and produced at its next commit. Deadlines of
removed carts and customers are dropped when they fall due (the state machines skip keys
they no longer hold), so no trigger fires for them.

Kept: aggregates without ids, the funnel's per-minute windows (a day) and the live revenue
buckets (an hour); and a session with an explicit ``sessionId`` written before ``who`` was
kept and not named by any cart of the person: it holds no id (its level, window, UTM
source and last event time), and is dropped 30 minutes after its last event.
"""

from __future__ import annotations

from collections.abc import Callable

from models.funnel import GAP_PREFIX
from streams.live.state import PartitionState

Erased = Callable[[str, str | None], bool]  # (tenant, id) -> whether the id was erased


def _gone(state: PartitionState, erased: Erased) -> Erased:
    """``erased``, widened to ids this partition links (in one or more hops) to an erased id."""
    links = state.identities.links

    def gone(tenant: str, ident: str | None) -> bool:
        seen: set[str] = set()
        while ident and ident not in seen:
            if erased(tenant, ident):
                return True
            seen.add(ident)
            ident = links.get((tenant, ident))
        return False

    return gone


def _any(erased: Erased, tenant: str, *ids: str | None) -> bool:
    return any(erased(tenant, i) for i in ids if i)


def forget(state: PartitionState, erased: Erased) -> dict[str, None]:
    """Remove erased people from ``state``; the changelog tombstones for what was removed."""
    gone = _gone(state, erased)
    writes: dict[str, None] = {}
    sessions: set[tuple[str, str]] = set()  # named by a removed cart
    carts = state.carts
    for key, cart in list(carts.carts.items()):
        if _any(gone, cart.tenant, cart.user_key, cart.user_id, cart.anonymous_id):
            del carts.carts[key]
            writes[key] = None
            if cart.session_id:
                sessions.add((cart.tenant, cart.session_id))
    for key, record in list(carts.abandoned.items()):
        if _any(gone, record.tenant, record.user_key, record.user_id, record.anonymous_id):
            del carts.abandoned[key]
            writes[key] = None
    customers = state.customers
    for key, customer in list(customers.customers.items()):
        if _any(gone, customer.tenant, customer.user_key, customer.user_id,
                customer.anonymous_id):
            del customers.customers[key]
            customers._winback_armed.discard(key)
            writes[key] = None
    funnel = state.funnel
    for tenant, device in list(funnel.gap_sessions):
        if gone(tenant, device):
            del funnel.gap_sessions[(tenant, device)]
    for (tenant, session), held in list(funnel.sessions.items()):
        if ((tenant, session) in sessions or gone(tenant, held.who)
                or (session.startswith(GAP_PREFIX)
                    and gone(tenant, session[len(GAP_PREFIX):].rsplit("@", 1)[0]))):
            del funnel.sessions[(tenant, session)]
            writes[f"s|{tenant}|{session}"] = None
    for tenant, user in list(state.pulse.seen):
        if gone(tenant, user):
            del state.pulse.seen[(tenant, user)]
    identities = state.identities
    for tenant, ident in list(identities.traits):
        if gone(tenant, ident):
            del identities.traits[(tenant, ident)]
            writes[f"p|{tenant}|{ident}"] = None
    for (tenant, ident), user in list(identities.links.items()):  # last: ``gone`` reads them
        if erased(tenant, ident) or erased(tenant, user):
            del identities.links[(tenant, ident)]
            writes[f"i|{tenant}|{ident}"] = None
    return writes
