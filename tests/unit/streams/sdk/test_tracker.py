"""The producer SDK's validating mode, and the ids it returns."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from models.validation import Rules, validate_obj
from streams.sdk.tracker import InvalidEvent, Tracker


def test_validating_tracker_refuses_invalid_events():
    tracker = Tracker("127.0.0.1:1", validate=True)
    with pytest.raises(InvalidEvent) as err:
        tracker.product_viewed("u1", {"product_id": "p1", "price": -2})
    assert err.value.issues[0].code == "price_not_positive"
    assert tracker.sent == 0


def test_a_record_over_the_message_limit_is_counted_not_raised():
    with Tracker("127.0.0.1:1", "shop.events.raw", validate=False) as tracker:
        tracker.send_raw(b"x" * 2_000_000, b"u1")  # over librdkafka's 1 MB message limit
        assert (tracker.sent, tracker.failed) == (1, 1)


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FLAT = {"category": "product", "event_type": "view", "user_id": "u1", "product_id": "p1",
        "price": "9.99"}


def sent_by(tracker: Tracker, event: dict) -> tuple[str, dict]:
    """What ``send_event`` returns, and the record it would send."""
    records: list[bytes] = []
    tracker.send_raw = lambda value, key=None: records.append(value)  # type: ignore[method-assign]
    returned = tracker.send_event(event)
    return returned, orjson.loads(records[0])


@pytest.mark.parametrize(("event", "given"), [
    (FLAT, None),
    ({**FLAT, "message_id": "m-flat"}, "m-flat"),
    ({**FLAT, "event_id": "e-flat"}, "e-flat"),
    ({"type": "track", "event": "Product Viewed", "userId": "u1",
      "properties": {"product_id": "p1", "price": "9.99"}}, None),
    ({"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "m-seg",
      "properties": {"product_id": "p1", "price": "9.99"}}, "m-seg"),
])
def test_the_id_returned_is_the_id_validation_keeps(event, given):
    returned, record = sent_by(Tracker("127.0.0.1:1", clock=lambda: NOW), event)
    result = validate_obj(record, Rules(), NOW)
    assert result.ok, result.issues
    assert result.canonical["messageId"] == returned
    assert "messageId" not in result.canonical["properties"]
    if given is not None:
        assert returned == given


def test_a_validating_tracker_returns_a_flat_events_id_too():
    returned, record = sent_by(Tracker("127.0.0.1:1", validate=True, clock=lambda: NOW), FLAT)
    assert record["message_id"] == returned and "messageId" not in record
