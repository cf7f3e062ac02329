"""Pure parts of the validation stage: dedupe expiry and dead-letter records."""

from __future__ import annotations

import orjson

from models.deadletters import dead_letter, original_payload
from models.errors import Issue
from streams.stages.dedupe import DedupeMemory
from tests.unit.conftest import NOW


def test_memory_is_per_partition_and_expires_in_event_time():
    m = DedupeMemory(window_ms=1000)
    assert m.remember(0, "a", 0) and m.remember(0, "b", 500) and m.remember(1, "c", 0)
    assert m.seen(0, "a") and not m.seen(1, "a")  # per partition
    assert m.expire(0) == []
    m.remember(0, "d", 1600)  # watermark 1600, cutoff 600
    assert m.expire(0) == ["a", "b"]
    assert not m.seen(0, "a") and m.seen(0, "d")
    assert m.expire(1) == []  # partition 1 has not moved on
    assert len(m) == 2


def test_events_older_than_the_window_are_not_remembered():
    m = DedupeMemory(window_ms=1000)
    m.remember(0, "x", 5000)
    assert m.remember(0, "late-but-inside", 4000)
    assert not m.remember(0, "too-late", 3999) and not m.seen(0, "too-late")
    assert m.remember(3, "anything", 0)  # a new partition has no watermark yet


def test_recovered_entries_are_adopted_and_partitions_dropped():
    m = DedupeMemory(window_ms=10)
    assert not m.knows(2)
    m.load(2, {"m1": 100, "m2": 50})
    assert m.knows(2) and m.seen(2, "m2")
    assert m.expire(2) == ["m2"]
    m.drop(2)
    assert not m.knows(2) and not m.seen(2, "m1")


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
