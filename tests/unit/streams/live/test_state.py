"""The live modules, by hand, in event time: carts abandoned, recovered, checked out,
emptied and late; decay scores against the closed form; funnel counts against a hand
count; post-purchase, win-back and segment triggers; live figures; restore from state."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from models.serde import dumps
from models.times import parse_iso_ms as parse_time_ms
from streams.live.events import live_event
from streams.live.funnel import funnel_view
from streams.live.pulse import live_figures
from streams.live.state import LiveConfig, PartitionState
from streams.live.trending import (
    Trending,
    TrendWeights,
    merge_partials,
    partial_tops,
    scopes_of,
    top,
    trend_updates,
)

T0 = parse_time_ms("2026-03-01T10:00:00Z")
MIN = 60_000
DAY = 86_400_000


def at(ms: int) -> str:
    from models.times import format_time
    from models.times import ms_to_datetime as to_time

    return format_time(to_time(ms))


def ev(event_name: str, ts: int, user: str = "alice", session: str | None = "s1",
       source: str = "", **props) -> dict:
    body = {"type": "track", "event": event_name, "userId": user, "tenant": "t1",
            "timestamp": at(ts), "properties": props, "context": {}}
    if event_name == "page":
        body = {**body, "type": "page"}
        del body["event"]
    if session:
        body["context"]["sessionId"] = session
    if source:
        body["context"]["campaign"] = {"source": source}
    return json.loads(dumps(body))  # as it comes off shop.events: numbers, not Decimals


def add(ts, pid="p1", qty=1, price=10.0, cart="c1", **kw):
    return ev("Product Added", ts, product_id=pid, quantity=qty, price=price, cart_id=cart,
              name=f"name {pid}", category="shoes.running", currency="USD", **kw)


def order(ts, oid="o1", total=25.0, cart=None, user="alice", products=None):
    props = {"order_id": oid, "total": total, "currency": "USD",
             "products": products or [{"product_id": "p1", "price": total, "quantity": 1}]}
    if cart:
        props["cart_id"] = cart
    return ev("Order Completed", ts, user=user, **props)


class Run:
    """A partition's state fed by hand; the wall clock is pinned so only event time moves."""

    def __init__(self, **config) -> None:
        self.state = PartitionState(LiveConfig(**config))
        self.wall = 1_000_000
        self.triggers = []
        self.writes = {}

    def feed(self, *events: dict) -> list:
        out = []
        for event in events:
            effects = self.state.apply(live_event(event), self.wall)
            self.writes.update(effects.writes)
            out.extend(effects.triggers)
        self.triggers.extend(out)
        return out

    def idle(self, ms: int) -> list:
        """The stream is quiet (caught up, nothing to read) for ``ms`` of wall-clock time."""
        self.state.idle(self.wall)
        self.wall += ms
        effects = self.state.due(self.wall)
        self.writes.update(effects.writes)
        self.triggers.extend(effects.triggers)
        return effects.triggers


def types(triggers) -> list[str]:
    return [t.type for t in triggers]


# -- carts ---------------------------------------------------------------------------------


def test_cart_abandoned_exactly_at_its_deadline_then_recovered_by_an_order():
    run = Run()
    run.feed(add(T0, "p1", qty=2, price=10.0), add(T0 + 5 * MIN, "p2", qty=1, price=4.5))
    assert run.feed(ev("page", T0 + 35 * MIN - 1, session="s9")) == []  # 1 ms before
    [abandoned] = run.feed(ev("page", T0 + 35 * MIN, session="s9"))
    assert abandoned.type == "cart_abandoned" and abandoned.cart_id == "c1"
    assert abandoned.total_items == 3 and abandoned.total_value == Decimal("24.50")
    assert abandoned.cart_duration_minutes == 5.0 and abandoned.currency == "USD"
    assert abandoned.abandoned_at == abandoned.time and at(T0 + 35 * MIN).startswith(
        abandoned.abandoned_at.isoformat()[:19])
    assert [(i.product_id, i.quantity, i.unit_price, i.line_total) for i in abandoned.items] == [
        ("p1", 2, Decimal("10.0"), Decimal("20.0")), ("p2", 1, Decimal("4.5"), Decimal("4.5"))]
    assert abandoned.categories == ["shoes.running"] and abandoned.user_id == "alice"
    assert "30 minutes" in abandoned.reason and abandoned.session_id == "s1"
    # nothing more for this cart, however long we wait
    assert run.idle(10 * DAY) == []
    assert run.state.carts.abandoned == {}  # past the recovery window: forgotten
    run2 = Run()
    run2.feed(add(T0), ev("page", T0 + 31 * MIN, session="s9"))
    [recovered] = run2.feed(order(T0 + 2 * 60 * MIN, total=25.0))
    assert recovered.type == "cart_recovered" and recovered.cart_id == "c1"
    assert recovered.order_id == "o1" and recovered.recovered_revenue == Decimal("25.0")
    assert recovered.minutes_since_abandonment == 90.0
    assert recovered.abandoned_trigger_id == run2.triggers[0].trigger_id
    assert types(run2.triggers) == ["cart_abandoned", "cart_recovered"]


def bot(event: dict) -> dict:
    """The event as the validation stage's enrichment flags a crawler's."""
    return {**event, "context": {**event["context"], "enrichment": {"is_bot": True}}}


def test_a_bots_events_move_time_but_leave_no_cart_trend_funnel_or_customer():
    run = Run()
    effects = run.state.apply(live_event(bot(add(T0, user="crawler"))), run.wall)
    assert effects.trend == [] and run.state.carts.abandoned == {}
    run.feed(bot(order(T0 + MIN, user="crawler")), bot(ev("page", T0 + 2 * MIN, user="crawler")))
    assert run.idle(40 * DAY) == []  # no abandonment, no post-purchase, no win-back
    assert run.state.now(run.wall) >= T0 + 2 * MIN  # event time moved all the same
    assert run.state.funnel.windows == {}
    # the same events from a shopper: the cart is abandoned
    human = Run()
    human.feed(add(T0, user="crawler"), ev("page", T0 + 40 * MIN, user="crawler", session="s9"))
    assert types(human.triggers) == ["cart_abandoned"]


def test_checked_out_and_emptied_carts_never_trigger():
    run = Run()
    run.feed(add(T0, cart="c1"), ev("Checkout Started", T0 + MIN, cart_id="c1"))
    run.feed(add(T0, pid="p2", cart="c2", user="bob"),
             ev("Product Removed", T0 + MIN, user="bob", product_id="p2", quantity=1, cart_id="c2"))
    assert run.idle(2 * DAY) == [] and run.triggers == []
    assert run.state.carts.carts == {}


def test_a_removal_or_a_view_of_a_cart_that_is_not_open_opens_none():
    """A Product Removed sent twice, or after the checkout, or for a cart never filled, made
    an empty cart that fired a Cart Abandoned with 0 items."""
    run = Run()
    run.feed(ev("Product Removed", T0, product_id="p4", quantity=1, cart_id="c-rm"),
             ev("Cart Viewed", T0, cart_id="c-view"),
             ev("Product Added", T0, cart_id="c-nopid"))  # no product named: nothing put in
    run.feed(add(T0, cart="c1"), ev("Checkout Started", T0 + MIN, cart_id="c1"),
             ev("Product Removed", T0 + 2 * MIN, product_id="p1", quantity=1, cart_id="c1"))
    assert run.idle(2 * DAY) == [] and run.triggers == []
    assert run.state.carts.carts == {}


def test_an_order_without_cart_id_closes_the_shoppers_carts():
    run = Run()
    run.feed(add(T0, cart="c1"), order(T0 + MIN))
    assert run.idle(DAY) == [] and run.state.carts.carts == {}


def test_recovery_only_within_the_window_and_only_once():
    run = Run(recovery_window_ms=DAY)
    run.feed(add(T0), ev("page", T0 + 31 * MIN, session="s9"))
    assert run.feed(order(T0 + 30 * MIN + DAY + 1)) == []  # one ms too late
    run = Run()
    run.feed(add(T0), ev("page", T0 + 31 * MIN, session="s9"))
    assert types(run.feed(order(T0 + 60 * MIN, oid="o1"))) == ["cart_recovered"]
    assert "cart_recovered" not in types(run.feed(order(T0 + 61 * MIN, oid="o2")))


def test_late_cart_activity_is_counted_not_merged():
    run = Run(lateness_ms=5 * MIN)
    run.feed(add(T0 + 10 * MIN, cart="c1"))
    run.feed(add(T0, pid="p9", cart="c1"))  # 10 minutes behind the watermark: late
    assert run.state.carts.late_events == 1
    assert list(run.state.carts.carts["c|t1|c1"].lines) == ["p1"]
    run.feed(add(T0 + 8 * MIN, pid="p8", cart="c1"))  # within the bound: merged
    assert sorted(run.state.carts.carts["c|t1|c1"].lines) == ["p1", "p8"]


def test_an_event_stamped_ahead_of_its_receipt_counts_as_a_minute_after_it_arrived():
    """A shopper whose device clock runs 23 hours ahead (the contract lets that through):
    the other carts on the partition are not abandoned, nor their events late; hers is
    abandoned 30 minutes after that minute, like anyone's."""
    run = Run(lateness_ms=5 * MIN)
    run.feed(add(T0, user="bob", cart="c-bob"))
    ahead = {**add(T0 + 23 * 60 * MIN, user="eve", cart="c-eve"), "receivedAt": at(T0 + MIN)}
    assert run.feed(ahead) == []  # bob's cart (deadline T0 + 30 min) is not abandoned
    assert run.state.clock.event_ms == T0 + 2 * MIN  # received at T0 + 1 min, plus 1 min
    run.feed(add(T0 + 3 * MIN, pid="p2", user="bob", cart="c-bob"))
    assert run.state.carts.late_events == 0
    assert sorted(run.state.carts.carts["c|t1|c-bob"].lines) == ["p1", "p2"]
    # received a day after its own time (an app offline, then a replay): its own time counts
    run.feed({**add(T0 + 4 * MIN, user="kim", cart="c-kim"), "receivedAt": at(T0 + DAY)})
    assert run.state.clock.event_ms == T0 + 4 * MIN
    fired = run.feed(add(T0 + 33 * MIN + 30_000, user="zed", cart="c-zed"))
    # eve's at T0 + 2 + 30 min, bob's at T0 + 3 + 30 min; kim's (T0 + 34 min) not yet
    assert [t.cart_id for t in fired] == ["c-eve", "c-bob"]


def test_an_idle_stream_moves_deadlines_by_the_wall_clock():
    run = Run()
    run.feed(add(T0))
    assert run.idle(29 * MIN) == []
    assert types(run.idle(MIN)) == ["cart_abandoned"]


def test_state_restored_from_its_writes_fires_the_same_trigger_once():
    run = Run()
    run.feed(add(T0), add(T0 + MIN, pid="p2"))
    restored = PartitionState(LiveConfig())
    for key, value in run.writes.items():
        if value is not None:
            restored.restore(key, json.loads(dumps(value)))
    restored.restored(run.wall)
    restored.idle(run.wall)  # caught up after the restore
    due = restored.due(run.wall + 31 * MIN)
    [trigger] = due.triggers
    expected = run.idle(31 * MIN)
    assert [t.trigger_id for t in expected] == [trigger.trigger_id]
    assert trigger.total_items == 2


# -- trending ------------------------------------------------------------------------------


def book_of(*events: dict, floor: float = 0.01) -> Trending:
    """A trending book fed with the updates the live state makes of ``events``."""
    book = Trending(6 * 60 * MIN, TrendWeights(), floor)
    for event in events:
        for update in trend_updates(live_event(event), TrendWeights()):
            book.apply(update)
    return book


def test_decayed_scores_match_the_closed_form_in_any_order():
    h = 6 * 60 * MIN
    view = ev("Product Viewed", T0, product_id="p1", category="shoes", price=1.0)
    add_ = ev("Product Added", T0 + 60 * MIN, product_id="p1", category="shoes", price=1.0,
              quantity=1, cart_id="c")
    buy = order(T0 + 3 * 60 * MIN, products=[{"product_id": "p1", "price": 1.0, "quantity": 1,
                                                 "category": "shoes"}])
    expected = (1 * 2 ** (-6 * 60 * MIN / h) + 3 * 2 ** (-5 * 60 * MIN / h)
                + 5 * 2 ** (-3 * 60 * MIN / h))
    for events in ([view, add_, buy], [buy, view, add_]):
        book = book_of(*events)
        [item] = top([book], "t1", T0 + 6 * 60 * MIN, 5)
        assert item["score"] == pytest.approx(expected, abs=1e-6)  # published rounded
        exact = book.scores[("t1", "p1")].at(T0 + 6 * 60 * MIN, h)
        assert exact == pytest.approx(expected, rel=1e-12)
        assert top([book], "t1", T0, 5, category="shoes")[0]["product_id"] == "p1"
        assert top([book], "t1", T0, 5, category="hats") == []


def test_decayed_products_are_dropped():
    book = book_of(ev("Product Viewed", T0, product_id="p1", price=1.0), floor=0.5)
    book.prune(T0 + 6 * 60 * MIN - 1)  # score 0.5+: kept
    assert book.scores
    effects = book.prune(T0 + 6 * 60 * MIN + 1)
    assert not book.scores and effects.writes == {"t|t1|p1": None}


def test_partition_top_lists_merge_into_the_exact_overall_top():
    """Products split over partitions (as the trending stage keys them), each partition's
    top lists merged at any later time, give the same top-N as one book of everything."""
    events = [ev("Product Viewed", T0 + i * MIN, product_id=f"p{i % 17}",
                 category=("shoes.running" if i % 3 else "hats"), price=1.0) for i in range(300)]
    events += [add(T0 + i * 7 * MIN, pid=f"p{i % 5}") for i in range(20)]
    whole = book_of(*events)
    parts = [Trending(6 * 60 * MIN, TrendWeights(), 0.01) for _ in range(3)]
    for update in (u for e in events for u in trend_updates(live_event(e), TrendWeights())):
        parts[hash(update.product) % 3].apply(update)
    later = T0 + 20 * 60 * MIN
    for scope, category in (("all", None), ("category:shoes", "shoes"),
                            ("category:shoes.running", "shoes.running"), ("category:hats", "hats")):
        partials = [partial_tops(book, 5).get(("t1", scope), []) for book in parts]
        assert merge_partials(partials, later, 6 * 60 * MIN, 5) == top([whole], "t1", later, 5,
                                                                       category)
    assert scopes_of("shoes.running") == ["all", "category:shoes", "category:shoes.running"]


# -- funnel --------------------------------------------------------------------------------


def test_funnel_counts_against_a_hand_count():
    run = Run()
    run.feed(
        # s1 (google): every stage in order
        ev("page", T0, session="s1", source="google"),
        ev("Product Viewed", T0 + 1000, session="s1", source="google", product_id="p1", price=1.0),
        add(T0 + 2000, session="s1", source="google"),
        ev("Checkout Started", T0 + 3000, session="s1", source="google", cart_id="c1"),
        order(T0 + 4000),
        # s2 (direct): adds before viewing: the add does not count, the later view does
        ev("page", T0 + 5000, user="bob", session="s2"),
        add(T0 + 6000, user="bob", session="s2", cart="c2"),
        ev("Product Viewed", T0 + 7000, user="bob", session="s2", product_id="p1", price=1.0),
        # no session id: carol's events 10 and 45 minutes apart are two sessions
        ev("page", T0 + 10_000, user="carol", session=None),
        ev("Product Viewed", T0 + 10 * MIN, user="carol", session=None, product_id="p2",
           price=1.0),
        ev("Product Viewed", T0 + 55 * MIN, user="carol", session=None, product_id="p2",
           price=1.0),
    )
    view = funnel_view([run.state.funnel], "t1", T0, T0 + 60 * MIN)
    counts = {s["stage"]: s["sessions"] for s in view["stages"]}
    assert counts == {"visit": 4, "product_view": 4, "add_to_cart": 1, "checkout": 1,
                      "purchase": 1}
    assert view["stages"][2]["conversion"] == 0.25 and view["stages"][4]["of_visits"] == 0.25
    google = {s["stage"]: s["sessions"] for s in view["by_source"]["google"]}
    assert google == {"visit": 1, "product_view": 1, "add_to_cart": 1, "checkout": 1,
                      "purchase": 1}
    assert [s["sessions"] for s in view["by_source"]["(direct)"]] == [3, 3, 0, 0, 0]
    # windows: the first minute holds the three sessions that started in it
    first = funnel_view([run.state.funnel], "t1", T0, T0 + MIN)
    assert first["stages"][0]["sessions"] == 3


def test_identify_alias_and_group_calls_open_no_session():
    """Sessions are made of track and page calls (models.funnel.SESSION_CALLS), as in
    ClickHouse's session_events: a call that says who someone is is no visit."""
    run = Run()
    calls = [{**ev("page", T0 + n, user="dora", session=None), "type": call, "userId": "dora",
              **extra} for n, (call, extra) in enumerate([
                  ("identify", {"anonymousId": "dev-d", "traits": {"plan": "gold"}}),
                  ("alias", {"previousId": "dev-d"}), ("group", {"groupId": "acme"})])]
    run.feed(*calls)
    view = funnel_view([run.state.funnel], "t1", T0, T0 + 60 * MIN)
    assert [s["sessions"] for s in view["stages"]] == [0, 0, 0, 0, 0]
    run.feed(ev("page", T0 + 10, user="dora", session=None))
    view = funnel_view([run.state.funnel], "t1", T0, T0 + 60 * MIN)
    assert [s["sessions"] for s in view["stages"]] == [1, 0, 0, 0, 0]


# -- customers -----------------------------------------------------------------------------


def test_post_purchase_unless_refunded_winback_and_segment_changes():
    run = Run()
    run.feed(order(T0, oid="o1", total=30.0))
    run.feed(order(T0 + DAY, oid="o2", total=20.0))
    assert types(run.triggers) == ["segment_changed"]  # new -> returning at the 2nd order
    changed = run.triggers[0]
    assert (changed.old_segment, changed.new_segment, changed.orders) == ("new", "returning", 2)
    assert changed.revenue == Decimal("50.0")
    run.feed(ev("Order Refunded", T0 + 2 * DAY, order_id="o2", total=20.0))
    fired = run.feed(ev("page", T0 + 3 * DAY, session="s5"))
    assert types(fired) == ["post_purchase"] and fired[0].order_id == "o1"  # o2 was refunded
    assert run.feed(ev("page", T0 + 5 * DAY, user="zed", session="s6")) == []
    [winback] = run.idle(30 * DAY)
    assert winback.type == "winback" and winback.orders == 2
    assert winback.last_seen_at.isoformat().startswith("2026-03-04T10:00")
    # checked days after it fell due: the figure is the rule's, as far from last_seen_at as
    # the trigger's time is (it was the days up to the check, so it changed with the check)
    assert winback.days_inactive == 30.0
    assert (winback.time - winback.last_seen_at).days == 30
    assert run.idle(30 * DAY) == []  # once per quiet stretch


def test_a_buyers_record_stays_small_whatever_they_order():
    """Follow-ups pending: the latest 20 orders, each naming its first 20 distinct products;
    250 products of 1,000-character ids in 30 orders once made a record over Kafka's 1 MB."""
    from streams.live.customers import MAX_PENDING, MAX_PENDING_PRODUCTS

    run = Run()
    lines = [{"product_id": f"{i:04d}" + "x" * 996, "price": 1.0, "quantity": 1}
             for i in range(250)]
    for n in range(30):
        run.feed(order(T0 + n * MIN, oid=f"o{n}", total=250.0, products=lines + lines[:3]))
    [key] = [k for k in run.writes if k.startswith("u|")]
    record = dumps(run.writes[key])
    assert len(record) < 500_000, len(record)
    pending = list(run.writes[key].pending)
    assert [p.order_id for p in pending] == [f"o{n}" for n in range(30 - MAX_PENDING, 30)]
    assert all(p.product_ids == [line["product_id"] for line in lines[:MAX_PENDING_PRODUCTS]]
               for p in pending)
    fired = run.idle(4 * DAY)  # a follow-up for each order still pending, none for the others
    assert [t.order_id for t in fired if t.type == "post_purchase"] == [p.order_id for p in pending]


def test_high_value_segment():
    run = Run(segment_rules=__import__("models.segments", fromlist=["SegmentRules"])
              .SegmentRules(high_value_revenue=Decimal("100")))
    [changed] = run.feed(order(T0, total=150.0))
    assert (changed.old_segment, changed.new_segment) == ("new", "high value")


# -- live figures ---------------------------------------------------------------------------


def test_live_figures():
    run = Run()
    run.feed(order(T0 - MIN, total=10.0), order(T0 + 30 * MIN, oid="o2", total=5.5, user="bob"),
             order(T0 + 59 * MIN + 30_000, oid="o3", total=1.0, user="carol"))
    figures = live_figures([run.state.pulse], "t1", T0 + 60 * MIN, lambda amount, _c, _d: amount)
    assert figures["orders_last_minute"] == 1 and figures["revenue_last_minute"] == Decimal("1.0")
    assert figures["orders_last_hour"] == 2 and figures["revenue_last_hour"] == Decimal("6.5")
    assert figures["active_users_5m"] == 1
    # per minute over the last 30 (oldest first): only the order of T0+59:30 is inside
    assert len(figures["revenue_by_minute"]) == 30 and figures["revenue_by_minute"][28] == 1.0
    assert sum(figures["revenue_by_minute"]) == 1.0


def test_a_shopper_who_logs_in_is_one_active_shopper():
    """Anonymous browsing, the login (identify with both ids), then browsing as the user:
    one person, so one active shopper, not the anonymous id and the user id."""
    run = Run()
    anonymous = {**ev("page", T0, user="x", session=None), "anonymousId": "dev-9"}
    del anonymous["userId"]
    login = {**ev("page", T0 + 1000, user="zoe", session=None), "type": "identify",
             "anonymousId": "dev-9", "traits": {"email": "zoe@example.com"}}
    after = {**ev("Product Viewed", T0 + 2000, user="zoe", session=None, product_id="p1",
                  price=1.0), "anonymousId": "dev-9"}
    run.feed(anonymous, login, after)
    figures = live_figures([run.state.pulse], "t1", T0 + 3000, lambda amount, _c, _d: amount)
    assert figures["active_users_5m"] == 1
    run.feed(ev("page", T0 + 2500, user="someone-else", session=None))
    figures = live_figures([run.state.pulse], "t1", T0 + 3000, lambda amount, _c, _d: amount)
    assert figures["active_users_5m"] == 2


def test_an_event_whose_effects_are_already_in_the_state_is_not_applied_twice():
    state = PartitionState(LiveConfig())
    first = state.apply_at(7, live_event(add(T0, qty=2)), 0)
    assert first.writes["o"] == 7
    restored = PartitionState(LiveConfig())
    for key, value in first.writes.items():
        restored.restore(key, json.loads(dumps(value)))
    assert restored.apply_at(7, live_event(add(T0, qty=2)), 0) is None  # redelivered
    assert restored.carts.carts["c|t1|c1"].lines["p1"].quantity == 2
    assert restored.apply_at(8, live_event(add(T0 + 1, qty=1)), 0) is not None
    assert restored.carts.carts["c|t1|c1"].lines["p1"].quantity == 3
