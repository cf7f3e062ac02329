"""The producer SDK's validating mode."""

from __future__ import annotations

import pytest

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
