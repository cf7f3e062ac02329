"""Forgetting erased people in a partition's live state: their carts, abandonments, customer
record and session-less sessions go, with a tombstone for each persisted key; the other
shopper's state and the aggregates stay; no trigger ever fires for the forgotten."""

from __future__ import annotations

from models.erasure import identity_hash
from streams.live.erasure import forget
from streams.live.events import live_event
from streams.live.state import LiveConfig, PartitionState
from tests.unit.streams.live.test_state import DAY, MIN, T0, add, ev, order


def erased_of(*ids: str):
    hashes = {identity_hash("t1", i) for i in ids}
    return lambda tenant, identity: bool(identity) and identity_hash(tenant, identity) in hashes


def in_session(body: dict, session: str) -> dict:
    return {**body, "context": {**body["context"], "sessionId": session}}


def run(state: PartitionState, *events: dict) -> None:
    for offset, body in enumerate(events, start=state.applied_offset + 1):
        state.apply_at(offset, live_event(body), 0)


def test_an_erased_shoppers_state_is_removed_and_tombstoned_the_others_kept():
    state = PartitionState(LiveConfig(abandon_after_ms=30 * MIN))
    run(state,
        add(T0, cart="c-alice"), order(T0 + MIN, oid="o-a"),  # alice: a buyer, cart closed
        add(T0 + 2 * MIN, cart="c-alice-2"),  # ... and a cart left open
        *(in_session(e, "s-bob") for e in (
            add(T0, cart="c-bob", user="bob"), order(T0 + MIN, oid="o-b", user="bob"),
            add(T0 + 2 * MIN, cart="c-bob-2", user="bob"))),
        ev("page", T0 + 3 * MIN, user="alice", session=None))  # a session-less run of alice's
    assert {c.user_key for c in state.carts.carts.values()} == {"alice", "bob"}
    gap = next(s for _, s in state.funnel.sessions if s.startswith("gap:alice@"))
    funnel_before = {k: list(v) for k, v in state.funnel.windows.items()}

    writes = forget(state, erased_of("alice"))

    assert writes == {"c|t1|c-alice-2": None, "u|t1|alice": None, f"s|t1|{gap}": None,
                      "s|t1|s1": None}  # her session, by the sessionId she sent
    assert set(state.funnel.sessions) == {("t1", "s-bob")}
    assert [c.user_key for c in state.carts.carts.values()] == ["bob"]
    assert list(state.customers.customers) == ["u|t1|bob"]
    assert ("t1", "alice") not in state.funnel.gap_sessions
    assert ("t1", "alice") not in state.pulse.seen and ("t1", "bob") in state.pulse.seen
    assert state.funnel.windows == funnel_before  # sums without ids: kept
    assert forget(state, erased_of("alice")) == {}  # nothing left to forget

    # time passes: bob's cart is abandoned, bob's follow-up sent; nothing fires for alice
    fired = state.apply(live_event(ev("page", T0 + 4 * DAY, user="carol", session="s9")), 0).triggers
    assert {(t.type, t.user_id) for t in fired} == {("cart_abandoned", "bob"),
                                                   ("post_purchase", "bob")}


def test_an_abandonment_known_by_an_anonymous_id_is_forgotten():
    state = PartitionState(LiveConfig(abandon_after_ms=30 * MIN))
    visitor = {**add(T0, cart="c-anon"), "userId": None, "anonymousId": "anon-7"}
    run(state, visitor)
    # event time moves on: the cart is abandoned, and its abandonment awaits recovery
    state.apply(live_event(ev("page", T0 + 31 * MIN, user="carol", session="s-carol")), 0)
    assert list(state.carts.abandoned) == ["a|t1|c-anon"]
    assert forget(state, erased_of("alice")) == {}  # someone else's erasure: untouched
    assert forget(state, erased_of("anon-7")) == {"a|t1|c-anon": None, "s|t1|s1": None}
    assert state.carts.abandoned == {}


def test_sessions_links_and_traits_of_a_person_known_here_only_are_forgotten():
    """An anonymous id linked to her user id only in this partition's state (identify on
    this device) is hers too: her browsing session (an explicit sessionId, no cart), the
    link and her contact traits go; a session restored from before ``who`` was kept goes
    when a cart of hers names it, else it stays (it holds no id)."""
    state = PartitionState(LiveConfig(abandon_after_ms=30 * MIN))
    anon = {"userId": None, "anonymousId": "anon-9"}
    run(state,
        {**ev("page", T0, session="s-browse"), **anon},
        {**ev("identify", T0 + MIN, session="s-browse"), "type": "identify", "anonymousId": "anon-9",
         "traits": {"email": "alice@example.com"}},
        add(T0 + 2 * MIN, cart="c-a", session="s-cart"),
        ev("page", T0 + 2 * MIN, user="bob", session="s-bob"))
    state.restore("s|t1|s-old", {"level": 1, "window": T0, "source": "", "last": T0})
    state.restore("s|t1|s-old-cart", {"level": 3, "window": T0, "source": "", "last": T0})
    state.carts.carts["c|t1|c-a"].session_id = "s-old-cart"
    assert state.identities.links == {("t1", "anon-9"): "alice"}
    assert ("t1", "alice") in state.identities.traits

    # the suppression list knows only her user id (ClickHouse never saw the link)
    writes = forget(state, erased_of("alice"))

    assert writes == {"s|t1|s-browse": None, "s|t1|s-cart": None, "s|t1|s-old-cart": None,
                      "c|t1|c-a": None, "i|t1|anon-9": None, "p|t1|alice": None}
    assert set(state.funnel.sessions) == {("t1", "s-bob"), ("t1", "s-old")}
    assert state.identities.links == {} and state.identities.traits == {}
