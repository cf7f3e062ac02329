"""Pure parts of the validation stage: dedupe expiry and dead-letter records."""

from __future__ import annotations

import orjson

from models.deadletters import dead_letter, original_payload
from models.errors import Issue
from streams.stages.dedupe import MAX_RECORD_BYTES, MAX_TOMBSTONE_BYTES, DedupeMemory
from tests.unit.conftest import NOW


def test_memory_is_per_partition_and_expires_in_event_time():
    m = DedupeMemory(window_ms=1000)
    assert m.remember(0, "a", 0, 10) and m.remember(0, "b", 500, 11) and m.remember(1, "c", 0, 3)
    assert m.seen(0, "a") and not m.seen(1, "a")  # per partition
    m.remember(0, "d", 1600, 12)  # watermark 1600, cutoff 600
    assert not m.seen(0, "a") and not m.seen(0, "b") and m.seen(0, "d")
    assert m.seen(1, "c")  # partition 1 has not moved on
    assert len(m) == 2


def test_events_older_than_the_window_are_not_remembered():
    m = DedupeMemory(window_ms=1000)
    m.remember(0, "x", 5000, 0)
    assert m.remember(0, "late-but-inside", 4000, 1)
    assert not m.remember(0, "too-late", 3999, 2) and not m.seen(0, "too-late")
    assert m.remember(3, "anything", 0, 0)  # a new partition has no watermark yet


def changelog(memory: DedupeMemory, partition: int) -> dict[bytes, bytes | None]:
    """What a compacted changelog holds after ``memory.changes()`` were committed."""
    state: dict[bytes, bytes | None] = {}
    for p, key, value in memory.changes():
        if p == partition:
            state[key] = value
    return state


def test_one_record_per_partition_and_commit_keyed_by_its_first_offset():
    m = DedupeMemory(window_ms=1000)
    m.load(0, {})
    m.remember(0, "a", 100, 7)
    m.remember(0, "b", 120, 8)
    m.remember(2, "c", 50, 3)
    assert sorted(m.changes()) == [
        (0, b'{"from_offset":7,"part":0}', b'{"a":100,"b":120}'),
        (2, b'{"from_offset":3,"part":0}', b'{"c":50}')]
    assert list(m.changes()) == []


def test_a_memory_loaded_from_its_batches_decides_as_the_one_that_wrote_them():
    window = 1000
    live, stored = DedupeMemory(window_ms=window), {}
    live.load(0, {})
    offset = 0
    for _commit in range(6):  # ids at 0, 250, ... ms; the window leaves the early ones behind
        for _i in range(5):
            live.remember(0, f"id{offset}", offset * 50, offset)
            offset += 1
        stored.update(changelog(live, 0))
    restarted = DedupeMemory(window_ms=window)
    assert restarted.load(0, stored) == len(live)
    ids = [f"id{n}" for n in range(offset)]
    assert [restarted.seen(0, i) for i in ids] == [live.seen(0, i) for i in ids]
    assert not restarted.seen(0, "id0") and restarted.seen(0, f"id{offset - 1}")
    # the first batch (0-200 ms) is past the window (cutoff 1450 - 1000 ms): tombstoned
    live_batches = [orjson.loads(k)["from_offset"] for k, v in stored.items() if v is not None]
    assert sorted(live_batches) == [5, 10, 15, 20, 25] and len(stored) == 6


def test_a_batch_past_the_window_but_for_some_ids_loads_only_those():
    m = DedupeMemory(window_ms=100)
    assert m.load(0, {b'{"from_offset":0,"part":0}': b'{"old":0,"young":150}'}) == 1
    assert m.seen(0, "young") and not m.seen(0, "old")


def test_a_batch_loaded_at_takeover_is_tombstoned_once_the_window_leaves_it_behind():
    m = DedupeMemory(window_ms=100)
    loaded = b'{"from_offset":0,"part":0}'
    m.load(0, {loaded: b'{"a":50}'})
    m.remember(0, "b", 120, 1)  # cutoff 20: "a" still inside
    assert loaded not in [key for _p, key, _v in m.changes()]
    m.remember(0, "c", 200, 2)  # cutoff 100: "a" is past it
    assert (0, loaded, None) in list(m.changes())


def test_a_large_batch_is_split_into_records_under_the_size_limit():
    m = DedupeMemory(window_ms=10**9)
    long_ids = [f"{n:04d}" + "x" * 1_020 for n in range(200)]  # 1,024 characters each
    for n, message_id in enumerate(long_ids):
        m.remember(0, message_id, n, n)
    records = list(m.changes())
    assert len(records) > 1
    assert all(len(value or b"") <= MAX_RECORD_BYTES for _p, _key, value in records)
    assert [orjson.loads(key)["part"] for _p, key, _v in records] == list(range(len(records)))
    restarted = DedupeMemory(window_ms=10**9)
    assert restarted.load(0, {key: value for _p, key, value in records}) == 200


def test_one_id_records_written_before_batches_are_read_and_tombstoned_as_they_expire():
    m = DedupeMemory(window_ms=1000)
    old = {b'"m1"': b"5000", b'"gone"': None, b'"m2"': b"4500", b'"ancient"': b"3000"}
    assert m.load(0, old) == 2  # the watermark is 5000: "ancient" is past the window
    assert m.seen(0, "m1") and m.seen(0, "m2") and not m.seen(0, "ancient")
    assert list(m.changes()) == [(0, b'"ancient"', None)]  # left where they are until then
    m.remember(0, "m3", 5600, 40)  # cutoff 4600: "m2" leaves the window
    assert list(m.changes()) == [
        (0, b'{"from_offset":40,"part":0}', b'{"m3":5600}'), (0, b'"m2"', None)]
    restarted = DedupeMemory(window_ms=1000)
    stored = {**old, b'"ancient"': None, b'"m2"': None, b'{"from_offset":40,"part":0}': b'{"m3":5600}'}
    assert restarted.load(0, stored) == 2 and restarted.seen(0, "m1") and restarted.seen(0, "m3")


def test_one_id_tombstones_are_bounded_per_commit_so_a_transaction_stays_small():
    m = DedupeMemory(window_ms=1000)
    keys = [orjson.dumps(f"{n:05d}" + "x" * 1_019) for n in range(400)]  # 1,024-character ids
    m.load(0, dict.fromkeys(keys, b"100"))
    m.remember(0, "new", 5000, 1)  # every one-id record is past the window now
    first = list(m.changes())
    tombstones = [key for _p, key, value in first if value is None]
    assert len(first) == len(tombstones) + 1 and len(tombstones) < len(keys)
    assert MAX_TOMBSTONE_BYTES <= sum(map(len, tombstones)) < MAX_TOMBSTONE_BYTES + len(keys[0])
    rest = []
    while batch := [key for _p, key, _v in m.changes()]:
        rest += batch
    assert sorted(tombstones + rest) == keys  # each tombstoned once, over the next commits


def test_an_id_in_several_records_keeps_its_latest_time_whatever_the_order_written():
    batch = {b'{"from_offset":1,"part":0}': b'{"x":5000,"y":5000}'}
    older = {b'"x"': b"3000", b'{"from_offset":9,"part":0}': b'{"x":2000,"z":5000}'}
    for changelog in ({**batch, **older}, {**older, **batch}):
        m = DedupeMemory(window_ms=1000)  # the watermark is 5000: 3000 is past the window
        assert m.load(0, changelog) == 3 and m.seen(0, "x")
        m.remember(0, "w", 5900, 20)  # cutoff 4900: x (5000) stays
        assert m.seen(0, "x")
        assert (0, b'"x"', None) in list(m.changes())  # the one-id record, by its own time


def test_a_dropped_partition_forgets_its_ids_and_what_it_had_not_saved():
    m = DedupeMemory(window_ms=1000)
    m.load(2, {b'{"from_offset":0,"part":0}': b'{"m1":100}'})
    m.remember(2, "m2", 120, 5)
    assert m.knows(2) and m.seen(2, "m1")
    m.drop(2)  # revoked, or an aborted transaction: loaded again from what was committed
    assert not m.knows(2) and not m.seen(2, "m1") and list(m.changes()) == []


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
