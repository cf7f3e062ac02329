"""Identity stitching through the worker on a real broker: a cart started anonymously goes
on after the shopper identifies, and when they go quiet exactly one Cart Abandoned names the
user, with the email from identify; the email lands in ClickHouse's ``users`` table and
nowhere in ``events``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.support import read_topic, wait_for

pytestmark = pytest.mark.integration
EMAIL = "ana@example.com"


def test_an_anonymous_cart_that_logs_in_is_abandoned_once_for_the_user(settings, worker_factory,
                                                                      kafka):
    from streams.sdk.tracker import Tracker

    t = settings.topics
    worker = worker_factory(CART_ABANDON_AFTER="8s").start()
    now = datetime.now(UTC)

    def at(seconds: float) -> str:
        return (now + timedelta(seconds=seconds)).isoformat()

    def added(seconds: float, product: str, ids: dict[str, str]) -> dict:
        return {"type": "track", "event": "Product Added", **ids, "timestamp": at(seconds),
                "context": {"sessionId": "s-ana"},
                "properties": {"product_id": product, "price": "12.50", "quantity": 1,
                               "currency": "USD"}}

    anonymous, logged_in = {"anonymousId": "dev-ana"}, {"userId": "ana", "anonymousId": "dev-ana"}
    with Tracker(kafka, t.raw) as tracker:
        tracker.send_event(added(0, "p1", anonymous))  # no cart_id: the device's cart
        tracker.send_event({"type": "identify", **logged_in, "timestamp": at(1),
                            "traits": {"email": EMAIL, "name": "Ana Lima"}})
        tracker.send_event(added(2, "p2", logged_in))  # the same cart, after the login
        tracker.flush()

    def abandoned() -> list[dict]:
        return [orjson.loads(r.value) for r in read_topic(kafka, t.triggers["cart_abandoned"])]

    wait_for(abandoned, 90, "the cart abandoned after 8 s of quiet")
    # well past the deadline: every partition ticked many times, still one trigger
    ticks = worker.metric("shopstream_live_ticks_total") + settings.topic_partitions * 10
    wait_for(lambda: worker.metric("shopstream_live_ticks_total") >= ticks, 60,
             f"{ticks} live ticks")
    [trigger] = abandoned()
    assert (trigger["user_id"], trigger["anonymous_id"]) == ("ana", "dev-ana")
    assert trigger["traits"] == {"email": EMAIL, "name": "Ana Lima"}
    assert trigger["cart_id"] == "user:dev-ana" and trigger["total_items"] == 2
    assert sorted(i["product_id"] for i in trigger["items"]) == ["p1", "p2"]
    # personal data: in users (and the live state), never in events or triggers' rows
    users = wait_for(lambda: worker.sql_or_none("SELECT user_id, email FROM users"), 60,
                     "the identify call in users")
    assert users == [{"user_id": "ana", "email": EMAIL}]
    wait_for(lambda: worker.sql_or_none("SELECT count() AS n FROM triggers")
             == [{"n": 1}], 60, "the trigger in ClickHouse")
    leaked = worker.sql("SELECT (SELECT count() FROM events WHERE position(context, 'ana@') "
                        "OR position(properties, 'ana@')) + (SELECT count() FROM triggers "
                        "WHERE position(payload, 'ana@')) AS n")
    assert leaked == [{"n": 0}]
    assert worker.sql("SELECT anonymous_id, user_id FROM identities") == [
        {"anonymous_id": "dev-ana", "user_id": "ana"}]
