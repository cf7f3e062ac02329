"""Identity stitching in one partition's live state: links and traits, carts across a login,
the triggers' user id and traits, and the state restored from its writes."""

from __future__ import annotations

from typing import Any

import orjson

from models.serde import dumps
from models.times import format_time, ms_to_datetime, parse_iso_ms
from streams.live.events import live_event
from streams.live.identities import Identities
from streams.live.state import LiveConfig, PartitionState

T0 = parse_iso_ms("2026-03-01T10:00:00Z")
MIN = 60_000
ANON = {"anonymousId": "dev-a"}
BOTH = {"userId": "ana", "anonymousId": "dev-a"}
EMAIL = "ana@example.com"


def event(ts: int, ids: dict[str, str], name: str | None = None, **fields: Any) -> dict:
    body = {"type": "track" if name else fields.pop("type", "page"), "tenant": "t1",
            "timestamp": format_time(ms_to_datetime(ts)), "context": {}, **ids, **fields}
    if name:
        body["event"] = name
    return body


def added(ts: int, ids: dict[str, str], pid: str = "p1", **props: Any) -> dict:
    return event(ts, ids, "Product Added", properties={"product_id": pid, "price": 10,
                                                       "quantity": 1, **props})


def identify(ts: int, user: str = "ana", anonymous: str = "dev-a", **traits: Any) -> dict:
    return event(ts, {"userId": user, "anonymousId": anonymous}, type="identify", traits=traits)


class Run:
    def __init__(self) -> None:
        self.state = PartitionState(LiveConfig())
        self.writes: dict[str, Any] = {}
        self.triggers: list = []

    def feed(self, *events: dict) -> None:
        for body in events:
            effects = self.state.apply(live_event(body), 0)
            self.writes.update(effects.writes)
            self.triggers.extend(effects.triggers)

    def of(self, kind: str) -> list:
        return [t for t in self.triggers if t.type == kind]


def test_links_and_merged_traits():
    ids = Identities()
    effects, links = ids.apply(live_event(identify(T0, email=EMAIL, plan="gold")))
    assert [(x.anonymous_id, x.user_id) for x in links] == [("dev-a", "ana")]
    assert effects.writes == {"i|t1|dev-a": "ana", "p|t1|ana": {"email": EMAIL}}
    effects, links = ids.apply(live_event(identify(T0 + 1, phone="+351 911")))
    assert links == [] and effects.writes == {"p|t1|ana": {"email": EMAIL, "phone": "+351 911"}}
    effects, links = ids.apply(live_event(event(T0 + 2, {"userId": "ana"}, type="alias",
                                                previousId="old-device")))
    assert [x.anonymous_id for x in links] == ["old-device"]
    anonymous = ids.resolve(live_event(added(T0, {"anonymousId": "old-device"})))
    assert (anonymous.user_id, anonymous.user_key) == ("ana", "ana")
    stranger = live_event(added(T0, {"anonymousId": "dev-z"}))
    assert ids.resolve(stranger) is stranger


def test_an_anonymous_cart_goes_on_after_login_and_is_abandoned_once_for_the_user():
    run = Run()
    run.feed(added(T0, ANON, "p1"), identify(T0 + MIN, email=EMAIL, name="Ana Lima"),
             added(T0 + 2 * MIN, BOTH, "p2"))
    assert list(run.state.carts.carts) == ["c|t1|user:dev-a"]
    run.feed(event(T0 + 40 * MIN, {"userId": "someone"}))  # event time passes the deadline
    [abandoned] = run.of("cart_abandoned")
    assert (abandoned.user_id, abandoned.anonymous_id) == ("ana", "dev-a")
    assert abandoned.traits == {"email": EMAIL, "name": "Ana Lima"}
    assert abandoned.total_items == 2 and abandoned.cart_id == "user:dev-a"


def test_a_cart_left_anonymous_gets_the_user_when_the_device_identifies_later():
    run = Run()
    run.feed(added(T0, ANON), identify(T0 + 5 * MIN, email=EMAIL))
    assert run.writes["c|t1|user:dev-a"].user_id == "ana"  # persisted with the user
    run.feed(event(T0 + 40 * MIN, ANON))
    [abandoned] = run.of("cart_abandoned")
    assert abandoned.user_id == "ana" and abandoned.traits == {"email": EMAIL}


def test_an_order_from_the_user_alone_closes_or_recovers_the_anonymous_cart():
    order = {"order_id": "o1", "total": 10, "currency": "USD",
             "products": [{"product_id": "p1", "price": 10, "quantity": 1}]}
    run = Run()
    run.feed(added(T0, ANON), identify(T0 + MIN),
             event(T0 + 3 * MIN, {"userId": "ana"}, "Order Completed", properties=order),
             event(T0 + 60 * MIN, {"userId": "someone"}))
    assert run.triggers == [] and run.state.carts.carts == {}
    run = Run()  # abandoned anonymously, identified afterwards, then bought by the user
    run.feed(added(T0, ANON), event(T0 + 40 * MIN, ANON), identify(T0 + 50 * MIN, email=EMAIL),
             event(T0 + 60 * MIN, {"userId": "ana"}, "Order Completed", properties=order))
    [abandoned], [recovered] = run.of("cart_abandoned"), run.of("cart_recovered")
    assert abandoned.user_id is None and abandoned.traits == {}  # nobody was known yet
    assert recovered.user_id == "ana" and recovered.traits == {"email": EMAIL}
    assert recovered.abandoned_trigger_id == abandoned.trigger_id


def test_links_and_traits_survive_a_restore_and_bots_link_nothing():
    run = Run()
    run.feed(added(T0, ANON), identify(T0 + MIN, email=EMAIL))
    restored = PartitionState(LiveConfig())
    for key, value in run.writes.items():
        if value is not None:
            restored.restore(key, orjson.loads(dumps(value)))
    assert restored.identities.user_of("t1", "dev-a") == "ana"
    assert restored.identities.contact("t1", "ana") == {"email": EMAIL}
    bot = identify(T0, user="mallory", anonymous="dev-b", email="x@y")
    bot["context"] = {"enrichment": {"is_bot": True}}
    run.feed(bot)
    assert run.state.identities.user_of("t1", "dev-b") is None


def alias(ts: int, previous: str, user: str) -> dict:
    return event(ts, {"userId": user}, type="alias", previousId=previous)


def test_a_user_aliased_to_another_user_carries_the_cart_to_the_last_user():
    """dev-a -> ana (identify), then ana -> ana-2 (alias, an account merge): the anonymous
    cart's trigger names ana-2 with ana-2's traits; events sent as ana count as ana-2's."""
    run = Run()
    run.feed(added(T0, ANON), identify(T0 + MIN, email=EMAIL), alias(T0 + 2 * MIN, "ana", "ana-2"),
             identify(T0 + 3 * MIN, user="ana-2", anonymous="dev-b", email="new@example.com"))
    resolved = run.state.identities.resolve(live_event(added(T0, {"userId": "ana"})))
    assert (resolved.user_id, resolved.user_key) == ("ana-2", "ana-2")
    assert run.state.identities.person("t1", "dev-a") == "ana-2"
    run.feed(event(T0 + 40 * MIN, {"userId": "someone"}))
    [abandoned] = run.of("cart_abandoned")
    assert (abandoned.user_id, abandoned.anonymous_id) == ("ana-2", "dev-a")
    assert abandoned.traits == {"email": "new@example.com"}


def test_links_that_form_a_cycle_resolve_without_looping():
    ids = Identities()
    for ts, (previous, user) in enumerate([("dev-a", "u1"), ("u1", "u2"), ("u2", "u1")]):
        ids.apply(live_event(alias(T0 + ts, previous, user)))
    assert ids.links == {("t1", "dev-a"): "u1", ("t1", "u1"): "u2", ("t1", "u2"): "u1"}
    assert ids.person("t1", "dev-a") == "u2"  # dev-a -> u1 -> u2, then u1 again: stop
    assert ids.person("t1", "u1") == "u2" and ids.person("t1", "u2") == "u1"
    ev = ids.resolve(live_event(added(T0, {"anonymousId": "dev-a"})))
    assert (ev.user_id, ev.user_key) == ("u2", "u2")
