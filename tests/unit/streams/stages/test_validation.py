"""The validation stage's per-record decisions, without a broker: canonical output and its
dedupe changelog batch at the commit, duplicates, dead letters with the original bytes,
expiry in arrival time."""

from __future__ import annotations

import orjson

from models.deadletters import original_payload
from models.serde import dumps
from models.settings import load_settings
from streams.kafka.records import Consumed
from streams.stages.dedupe import DedupeMemory
from streams.stages.validation import ValidationStage, rules_from
from tests.unit.conftest import NOW, track

DAY_MS = 86_400_000


def stage(window_ms: int = DAY_MS) -> ValidationStage:
    s = ValidationStage(rules_from(load_settings()), "events", "dlq", "dedupe",
                        DedupeMemory(window_ms=window_ms))
    s.load_memory(0, {})
    return s


def raw(value: bytes, offset: int = 0, partition: int = 0) -> Consumed:
    return Consumed("raw", partition, offset, b"k", value)


def test_a_valid_event_goes_out_canonical_keyed_by_user_and_its_id_in_the_commits_batch() -> None:
    s = stage()
    decision = s.handle(raw(dumps(track("Product Viewed", {"product_id": "p1"})), offset=5), NOW)
    assert decision.outcome == "canonical" and decision.code is None
    (out,) = decision.records
    assert (out.topic, out.key) == ("events", b"u1")
    assert orjson.loads(out.value)["messageId"] == "m1"
    assert orjson.loads(out.value)["receivedAt"] == "2026-11-21T12:00:00.000Z"  # the stage's clock
    s.handle(raw(dumps(track("Product Viewed", {"product_id": "p1"}, messageId="m2")), 6), NOW)
    (entry,) = s.changelog()  # at the commit: one record for the partition
    assert (entry.topic, entry.partition) == ("dedupe", 0)
    assert orjson.loads(entry.key) == {"from_offset": 5, "part": 0}
    assert orjson.loads(entry.value) == {"m1": 1_795_258_800_000, "m2": 1_795_258_800_000}
    assert s.changelog() == []  # saved: nothing new to write


def test_an_event_without_receivedat_is_stamped_with_its_kafka_timestamp() -> None:
    """Validating the same raw records again, later, stamps the same receivedAt: the time
    they reached Kafka, not the stage's clock (which fills in only when Kafka has none)."""
    body = dumps(track("Product Viewed", {"product_id": "p1"}, timestamp=None))
    appended = Consumed("raw", 0, 0, b"k", body, 1_795_258_800_123)  # 11:00:00.123 that day
    first = stage().handle(appended, NOW).records[0].value
    later = stage().handle(appended, NOW.replace(hour=20)).records[0].value
    assert first == later
    event = orjson.loads(first)
    assert event["receivedAt"] == event["timestamp"] == "2026-11-21T11:00:00.123Z"
    without = orjson.loads(stage().handle(raw(body), NOW).records[0].value)
    assert without["receivedAt"] == "2026-11-21T12:00:00.000Z"  # the stage's clock


def test_the_same_message_id_again_is_a_duplicate_with_nothing_to_write() -> None:
    s = stage()
    body = dumps(track("Product Viewed", {"product_id": "p1"}))
    assert s.handle(raw(body, 0), NOW).outcome == "canonical"
    again = s.handle(raw(body, 1), NOW)
    assert again.outcome == "duplicate" and again.records == []
    # another partition has a memory of its own
    s.load_memory(1, {})
    assert s.handle(raw(body, 0, partition=1), NOW).outcome == "canonical"


def test_memory_loaded_from_the_changelog_recognises_a_replayed_event() -> None:
    s = stage()
    assert s.needs_memory(3)
    s.load_memory(3, {b'"m1"': b"1795258800000", b'"gone"': None})
    assert not s.needs_memory(3)
    body = dumps(track("Product Viewed", {"product_id": "p1"}))
    assert s.handle(raw(body, 7, partition=3), NOW).outcome == "duplicate"


def test_invalid_bytes_become_a_dead_letter_with_the_original_bytes_and_source() -> None:
    s = stage()
    bad = (b'{"type": "track", "event": "Product Viewed", "userId": "u1", '
           b'"properties": {"product_id": "p1", "price": -1}}')
    decision = s.handle(raw(bad, offset=42), NOW)
    assert decision.outcome == "dead_letter" and decision.code == "price_not_positive"
    (letter,) = decision.records
    assert (letter.topic, letter.key) == ("dlq", b"k")
    body = orjson.loads(letter.value)
    assert body["source"] == {"topic": "raw", "partition": 0, "offset": 42, "key": "k"}
    assert original_payload(body) == bad
    assert s.handle(raw(b"not json"), NOW).code == "json_invalid"
    assert s.handle(raw(b""), NOW).outcome == "dead_letter"


def test_a_batch_whose_ids_the_window_left_behind_is_tombstoned_at_the_next_commit() -> None:
    s = stage(window_ms=60_000)
    first = track("Product Viewed", {"product_id": "p1"}, messageId="old",
                  timestamp="2026-11-21T11:00:00Z")
    later = track("Product Viewed", {"product_id": "p1"}, messageId="new",
                  timestamp="2026-11-21T11:05:00Z")
    s.handle(raw(dumps(first)), NOW)
    (old_batch,) = s.changelog()
    decision = s.handle(raw(dumps(later), 1), NOW)
    assert [r.topic for r in decision.records] == ["events"]
    new_batch, tombstone = s.changelog()
    assert orjson.loads(new_batch.value) == {"new": 1_795_259_100_000}
    assert (tombstone.key, tombstone.value) == (old_batch.key, None)
    # an event older than the window is forwarded but not remembered
    stale = track("Product Viewed", {"product_id": "p1"}, messageId="stale",
                  timestamp="2026-11-21T10:00:00Z")
    assert [r.topic for r in s.handle(raw(dumps(stale), 2), NOW).records] == ["events"]
    assert s.changelog() == [] and not s.memory.seen(0, "stale")


def test_a_backfill_of_old_events_sent_twice_is_deduplicated_by_arrival_time() -> None:
    """The window is measured in arrival time (the records' Kafka timestamps): after current
    traffic, events of 2019 produced again are duplicates, as resends of today's are."""
    s = stage()
    arrived = 1_795_258_800_000  # 2026-11-21 11:00
    today = track("Product Viewed", {"product_id": "p1"}, messageId="now",
                  timestamp="2026-11-21T11:00:00Z")
    s.handle(Consumed("raw", 0, 0, b"k", dumps(today), arrived), NOW)
    old = dumps(track("Product Viewed", {"product_id": "p1"}, messageId="rees46-row-7",
                      timestamp="2019-10-01T00:00:00Z"))
    first = s.handle(Consumed("raw", 0, 1, b"k", old, arrived + 60_000), NOW)
    again = s.handle(Consumed("raw", 0, 2, b"k", old, arrived + 120_000), NOW)
    assert (first.outcome, again.outcome) == ("canonical", "duplicate")
    (batch,) = s.changelog()
    assert orjson.loads(batch.value) == {"now": arrived, "rees46-row-7": arrived + 60_000}
    # once arrivals are a day past it, the window has left it behind
    tomorrow = dumps(track("Product Viewed", {"product_id": "p1"}, messageId="next-day"))
    s.handle(Consumed("raw", 0, 3, b"k", tomorrow, arrived + DAY_MS + 60_001), NOW)
    later = s.handle(Consumed("raw", 0, 4, b"k", old, arrived + DAY_MS + 60_002), NOW)
    assert later.outcome == "canonical"


def test_enrichment_is_on_by_default_and_bots_are_kept_flagged_and_counted() -> None:
    from streams.stages.validation import BOT_EVENTS, ValidationProcessor

    processor = ValidationProcessor(stage(), lambda partition: {}, "raw", clock=lambda: NOW)
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    before = BOT_EVENTS._value.get()
    [out] = processor.handle(raw(dumps(track("Product Viewed", {"product_id": "p1"},
                                                     context={"userAgent": googlebot}))))
    assert orjson.loads(out.value)["context"]["enrichment"]["is_bot"] is True
    assert BOT_EVENTS._value.get() == before  # counted at the commit, not before
    processor.committed()
    assert BOT_EVENTS._value.get() == before + 1
    processor.handle(raw(dumps(track("Product Viewed", {"product_id": "p1"}, messageId="m2",
                                     context={"userAgent": "curl/8.4.0"})), offset=1))
    processor.handle(raw(dumps(track("Product Viewed", {"product_id": "p1"}, messageId="m3")),
                         offset=2))
    processor.committed()
    assert BOT_EVENTS._value.get() == before + 2  # curl is a bot; no user agent is not


def test_a_duplicate_is_noted_on_the_duplicates_topic_when_one_is_set() -> None:
    s = ValidationStage(rules_from(load_settings()), "events", "dlq", "dedupe",
                        DedupeMemory(window_ms=DAY_MS), duplicates_topic="dups")
    s.load_memory(0, {})
    event = dumps(track("Product Viewed", {"product_id": "p1"}))
    assert s.handle(raw(event, offset=4), NOW).outcome == "canonical"
    again = s.handle(raw(event, offset=5), NOW)
    assert again.outcome == "duplicate"
    [note] = again.records
    assert (note.topic, note.key) == ("dups", b"k")
    assert orjson.loads(note.value) == {
        "tenant": "default", "message_id": "m1", "event_time": 1_795_258_800_000,
        "seen_at": int(NOW.timestamp() * 1000),
        "source": {"topic": "raw", "partition": 0, "offset": 5}}


def test_with_enrichment_off_a_senders_own_context_enrichment_of_any_shape_goes_through() -> None:
    """The stage never raises on it (it once read ``is_bot`` from whatever was there)."""
    from dataclasses import replace

    s = stage()
    s.rules = replace(s.rules, enrich=False)
    for offset, sent in enumerate(["x", 5, ["is_bot"], {"is_bot": True}, {"is_bot": "no"}, None]):
        event = track("Product Viewed", {"product_id": "p1"}, messageId=f"m{offset}",
                      context={"enrichment": sent})
        decision = s.handle(raw(dumps(event), offset), NOW)
        assert decision.outcome == "canonical", (sent, decision)
        assert decision.bot is (isinstance(sent, dict) and bool(sent["is_bot"]))


def test_the_stage_clock_reads_the_wall_clock_to_the_millisecond_once_per_millisecond(
        monkeypatch) -> None:
    """Events handled within one millisecond share one ``now``; the next millisecond gives
    a new one, cut (not rounded) to the millisecond, in UTC."""
    import time

    from models.times import ms_to_datetime
    from streams.stages.validation import MillisecondClock

    ns = [1_796_189_266_325_000_001]
    monkeypatch.setattr(time, "time_ns", lambda: ns[0])
    clock = MillisecondClock()
    first = clock()
    assert first == ms_to_datetime(1_796_189_266_325) and first.tzinfo is not None
    ns[0] = 1_796_189_266_325_999_999  # later in the same millisecond: the same object
    assert clock() is first
    ns[0] = 1_796_189_266_326_000_000
    later = clock()
    assert later == ms_to_datetime(1_796_189_266_326) and later is not first


def test_records_of_one_millisecond_get_the_same_received_at_and_others_their_own() -> None:
    """An event without receivedAt is stamped with its record's Kafka timestamp, whichever
    record came before it."""
    s = stage()
    values = []
    for offset, ts in enumerate([1_796_189_266_325, 1_796_189_266_325, 1_796_189_266_400]):
        record = Consumed("raw", 0, offset, b"k", dumps(track("Product Viewed", {"product_id": "p1"},
                                                               messageId=f"m{offset}")), ts)
        (out,) = s.handle(record, NOW).records
        values.append(orjson.loads(out.value)["receivedAt"])
    assert values == ["2026-12-02T05:27:46.325Z"] * 2 + ["2026-12-02T05:27:46.400Z"]


def test_a_message_id_is_unique_within_its_tenant_not_across_tenants() -> None:
    """Two shops sending the same messageId (or the same content, whose derived ids match)
    are not each other's duplicates; a resend within one shop still is. The default tenant's
    ids are remembered as they were before, so an existing changelog still serves."""
    s = stage()
    acme = dumps(track("Product Viewed", {"product_id": "p1"}, tenant="acme"))
    other = dumps(track("Product Viewed", {"product_id": "p1"}, tenant="other"))
    plain = dumps(track("Product Viewed", {"product_id": "p1"}))
    assert [s.handle(raw(body, offset), NOW).outcome
            for offset, body in enumerate([acme, other, plain, acme, other, plain])] == [
        "canonical", "canonical", "canonical", "duplicate", "duplicate", "duplicate"]
    (entry,) = s.changelog()
    assert sorted(orjson.loads(entry.value)) == ["acme\x00m1", "m1", "other\x00m1"]
    # a changelog of plain ids, as written before: the default tenant's event is recognised
    s.load_memory(2, {b'"m1"': b"1795258800000"})
    assert s.handle(raw(plain, 9, partition=2), NOW).outcome == "duplicate"
    assert s.handle(raw(acme, 10, partition=2), NOW).outcome == "canonical"
    # a default-tenant id holding a NUL cannot pass for another tenant's id
    sneaky = dumps(track("Product Viewed", {"product_id": "p1"}, messageId="other\x00m1"))
    assert s.handle(raw(sneaky, 6), NOW).outcome == "canonical"
