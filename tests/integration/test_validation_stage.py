"""The validation stage on a real broker: exact routing, dead letters, dedupe, restarts."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from models.deadletters import original_payload
from models.identity import device_key
from models.serde import dumps
from streams.app import faust_app_id
from streams.sdk.tracker import Tracker
from tests.support import count, read_topic, wait_for, wait_until_equal

pytestmark = pytest.mark.integration


def product(pid: str, price: str = "19.99") -> dict:
    return {"product_id": pid, "price": price, "currency": "USD", "name": f"Product {pid}"}


VALIDATION_ONLY = {"SHOPSTREAM_WORKER_PROCESSES": "3", "SHOPSTREAM_LIVE_ENABLED": "false",
                   "SHOPSTREAM_SINK_ENABLED": "false"}


@pytest.mark.parametrize("env", [{}, VALIDATION_ONLY],
                         ids=["whole worker", "validation only, three validation processes"])
def test_mixed_traffic_lands_exactly_where_it_belongs(settings, worker_factory, kafka, env):
    worker = worker_factory(**env).start()
    topics = settings.topics
    valid_ids: set[str] = set()
    with Tracker(kafka, topics.raw) as tracker:
        # valid, through the typed helpers and the generic calls
        for i in range(20):
            valid_ids.add(tracker.product_viewed(f"user-{i % 5}", product(f"p{i}")))
        resent = tracker.product_viewed("user-0", product("p0"))
        valid_ids.add(resent)
        order = {"order_id": "o-1", "currency": "EUR", "subtotal": "39.98", "tax": "0.01",
                 "total": "39.99", "products": [{"product_id": "p1", "price": "19.99",
                                                 "quantity": 2, "line_total": "39.98"}]}
        valid_ids.add(tracker.order_completed("user-1", order, message_id="order-msg-1"))
        valid_ids.add(tracker.identify("user-2", {"email": "u2@example.com"}))
        valid_ids.add(tracker.page("Home", {"path": "/"}, anonymous_id="anon-1"))
        # an older service's flat envelope
        flat = {"category": "product", "event_type": "cart_add", "user_id": "user-3",
                "product_id": "p3", "quantity": 1, "price": "5.00", "message_id": "flat-1"}
        tracker.send_raw(dumps(flat), b"user-3")
        valid_ids.add("flat-1")
        # duplicates: the same event (same messageId, same user key) sent again, twice
        for _ in range(2):
            tracker.track("Product Viewed", product("p0"), user_id="user-0", message_id=resent)
        # invalid by the contract
        bad_price = tracker.track("Product Viewed", product("p9", price="-1"), user_id="user-9")
        tracker.track("Order Completed", {**order, "currency": "eur"}, user_id="user-9")
        tracker.send_event({"type": "track", "event": "Logged In", "messageId": "no-user"})
        # malformed bytes
        tracker.send_raw(b'{"type": "track", "event": ', b"user-9")
        tracker.send_raw(b"\xff\xfe\x00binary", None)
        sent = tracker.sent
        tracker.flush()
        assert tracker.delivered == sent and tracker.failed == 0

    expected_valid, expected_dead = len(valid_ids), 5
    wait_until_equal(lambda: worker.metric("shopstream_events_in_total"), sent, 60,
                     "the worker to read all raw events")
    try:
        wait_until_equal(lambda: (count(kafka, topics.events), count(kafka, topics.dlq)),
                         (expected_valid, expected_dead), 90, "(canonical, dead letters)")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{worker.log_tail(60)}") from None

    events = read_topic(kafka, topics.events)
    canonical = [orjson.loads(r.value) for r in events]
    assert sorted(e["messageId"] for e in canonical) == sorted(valid_ids)
    for record, event in zip(events, canonical, strict=True):
        assert record.key == device_key(event.get("userId"), event.get("anonymousId"),
                                        event.get("previousId")).encode()
    by_id = {e["messageId"]: e for e in canonical}
    assert by_id["flat-1"]["event"] == "Product Added"
    order_bytes = next(r.value for r in events if b"order-msg-1" in r.value)
    assert b'"subtotal":39.98' in order_bytes and b'"tax":0.01' in order_bytes

    dead = [orjson.loads(r.value) for r in read_topic(kafka, topics.dlq)]
    first_codes = Counter(d["reasons"][0]["code"] for d in dead)
    assert first_codes == {"price_not_positive": 1, "currency_invalid": 1,
                           "identity_missing": 1, "json_invalid": 1, "encoding_invalid": 1}
    assert all(d["source"]["topic"] == topics.raw and d["source"]["offset"] >= 0 for d in dead)
    assert original_payload(next(d for d in dead if d["payload_encoding"] == "base64")) == (
        b"\xff\xfe\x00binary")
    assert any(bad_price in d["payload"] for d in dead)

    if env:  # the three processes share the raw topic's partitions, each reports apart
        stages = worker.health()["stages"]
        assert {"validate", "validate-1", "validate-2"} <= set(stages), stages
        assert all(stages[name]["healthy"] for name in ("validate", "validate-1", "validate-2"))
        # with the live stage off, none of its stages is listed (they never start)
        assert not {"live", "trending", "trending-board"} & set(stages), stages
    assert worker.metric("shopstream_events_duplicate_total") == 2
    assert worker.metric("shopstream_events_out_total", topic=topics.events) == expected_valid
    assert worker.metric("shopstream_events_rejected_total", code="json_invalid") == 1
    # every commit interval's cost, by stage (the validation stage's group; each process its own)
    group = f"{faust_app_id(settings)}-validate"
    commits = worker.metric("shopstream_transaction_commit_seconds_count", group=group)
    assert commits >= 1 and worker.metric("shopstream_transaction_commit_seconds_sum",
                                           group=group) > 0, commits


def _send_views(kafka: str, topic: str, ids: list[str]) -> None:
    with Tracker(kafka, topic) as tracker:
        for mid in ids:
            tracker.track("Product Viewed", product("p1"), user_id=f"user-{mid[-1]}",
                          message_id=mid)
        tracker.flush()


def test_restarted_worker_does_not_reemit(settings, worker_factory, kafka):
    topics = settings.topics
    first = [f"a{i}" for i in range(30)]
    worker = worker_factory().start()
    _send_views(kafka, topics.raw, first)
    wait_for(lambda: count(kafka, topics.events) == 30, 60, "first batch")
    assert worker.stop() == 0

    worker.start()
    second = [f"b{i}" for i in range(10)] + ["a3", "a17"]  # two re-sent from before
    _send_views(kafka, topics.raw, second)
    wait_for(lambda: worker.metric("shopstream_events_in_total") == len(second), 60,
             "the restarted worker to read only the new events")
    wait_for(lambda: count(kafka, topics.events) == 40, 30, "second batch")
    ids = Counter(orjson.loads(r.value)["messageId"] for r in read_topic(kafka, topics.events))
    assert set(ids) == set(first) | {f"b{i}" for i in range(10)}
    assert max(ids.values()) == 1
    assert worker.metric("shopstream_events_duplicate_total") == 2


def test_crashed_worker_recovers_dedupe_state(settings, worker_factory, kafka, prefix):
    """SIGKILL after the outputs and the dedupe changelog are written, before a clean stop:
    whatever the restarted worker reads again is recognised and not emitted twice."""
    topics = settings.topics
    ids = [f"c{i}" for i in range(50)]
    worker = worker_factory().start()
    _send_views(kafka, topics.raw, ids)
    changelog = f"{prefix}shopstream-dedupe-message-ids-changelog"

    def remembered() -> set[str]:
        """The messageIds in the committed changelog's batches."""
        return {message_id for record in read_topic(kafka, changelog) if record.value
                for message_id in orjson.loads(record.value)}

    wait_for(lambda: count(kafka, topics.events) == 50 and remembered() >= set(ids), 60,
             "outputs and every id in the dedupe changelog")
    worker.kill()

    worker.start()
    _send_views(kafka, topics.raw, ["c7", "d1"])
    wait_for(lambda: count(kafka, topics.events) == 51, 60, "the new event")
    wait_for(lambda: worker.metric("shopstream_events_duplicate_total") >= 1, 30,
             "the re-sent event to be dropped")
    emitted = Counter(orjson.loads(r.value)["messageId"] for r in read_topic(kafka, topics.events))
    assert set(emitted) == set(ids) | {"d1"} and max(emitted.values()) == 1
