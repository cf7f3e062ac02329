"""Pure parts of the validation stage: dedupe expiry and dead-letter records."""

from __future__ import annotations

import orjson

from models.errors import Issue
from streams.deadletter import dead_letter, original_payload
from streams.dedupe import ExpiryQueue
from tests.unit.conftest import NOW


def test_expiry_is_per_partition_event_time():
    q = ExpiryQueue(window_ms=1000)
    q.add(0, "a", 0)
    q.add(0, "b", 500)
    q.add(1, "c", 0)
    assert q.pop_expired(0) == []
    q.add(0, "d", 1600)  # watermark 1600, cutoff 600
    assert q.pop_expired(0) == ["a", "b"]
    assert q.pop_expired(1) == []  # partition 1 has not moved on
    assert len(q) == 2


def test_late_events_outside_window_are_not_remembered():
    q = ExpiryQueue(window_ms=1000)
    q.add(0, "x", 5000)
    assert q.is_fresh(0, 4000) and not q.is_fresh(0, 3999)
    assert q.is_fresh(3, 0)  # unknown partition: everything is fresh


def test_recovered_entries_are_adopted():
    q = ExpiryQueue(window_ms=10)
    assert not q.knows(2)
    q.load(2, [("m1", 100), ("m2", 50)])
    assert q.knows(2)
    assert q.pop_expired(2) == ["m2"]


def test_dead_letter_keeps_original_bytes_and_context():
    payload = b"\xff\xfe not utf-8"
    record = orjson.loads(dead_letter(
        payload, [Issue("encoding_invalid", "", "not UTF-8")], topic="shop.events.raw",
        partition=2, offset=41, key=b"u1", failed_at=NOW))
    assert original_payload(record) == payload
    assert record["payload_encoding"] == "base64"
    assert record["reasons"] == [{"code": "encoding_invalid", "path": "", "message": "not UTF-8"}]
    assert record["source"] == {"topic": "shop.events.raw", "partition": 2, "offset": 41,
                                "key": "u1"}
    assert record["failed_at"] == "2026-11-21T12:00:00.000Z"
    text = orjson.loads(dead_letter(b'{"a":1}', [], topic="t", partition=0, offset=0,
                                    key=None, failed_at=NOW))
    assert original_payload(text) == b'{"a":1}' and text["payload_encoding"] == "utf-8"
