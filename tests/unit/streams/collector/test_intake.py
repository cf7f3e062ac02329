"""The collector's pure request handling: bodies, limits, stamping, keys in headers,
client addresses."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime

import orjson
import pytest

from streams.collector.intake import (
    BATCH_LIMIT,
    EVENT_LIMIT,
    Rejected,
    client_ip,
    credentials,
    decode_body,
    flat_body,
    frame,
    parse_networks,
    segment_body,
    stamp,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def rejected(call, *args) -> tuple[int, str]:
    with pytest.raises(Rejected) as info:
        call(*args)
    return info.value.status, info.value.code


def test_gzip_is_undone_within_the_batch_limit():
    body = b'{"batch": []}'
    assert decode_body(gzip.compress(body), "gzip") == body
    assert decode_body(body, None) == body
    assert rejected(decode_body, gzip.compress(b" " * (BATCH_LIMIT + 10)), "gzip") == (
        400, "too_large")
    assert rejected(decode_body, b"x" * (BATCH_LIMIT + 1), None) == (400, "too_large")
    assert rejected(decode_body, gzip.compress(body)[:-12], "gzip") == (400, "encoding_invalid")
    assert rejected(decode_body, body, "br") == (400, "encoding_invalid")


def test_segment_single_call_takes_the_paths_type_and_batch_shares_context():
    single = segment_body(orjson.dumps({"type": "track", "event": "x", "writeKey": "k"}),
                          "identify")
    assert single.events == [{"type": "identify", "event": "x"}] and single.write_key == "k"
    batch = segment_body(orjson.dumps({"context": {"ip": "1.2.3.4", "locale": "de"},
                                       "batch": [{"type": "track", "context": {"locale": "fr"}},
                                                 {"type": "page"}]}), None)
    assert [e["context"] for e in batch.events] == [{"ip": "1.2.3.4", "locale": "fr"},
                                                    {"ip": "1.2.3.4", "locale": "de"}]
    assert batch.write_key is None
    assert rejected(segment_body, b'{"batch": []}', None) == (400, "not_object")
    assert rejected(segment_body, b"[1]", "track") == (400, "not_object")
    assert rejected(segment_body, b"\xff\xfe", "track") == (400, "encoding_invalid")


@pytest.mark.parametrize("own", ["oops", 5, [1], True])
@pytest.mark.parametrize("name", ["context", "integrations"])
def test_a_messages_context_or_integrations_that_is_not_an_object_is_refused(name, own):
    track = {"type": "track", "event": "x", "userId": "u"}
    shared = {name: {"library": {"name": "x"}}}
    for top in (shared, {}):  # whether or not the batch has one of its own to merge in
        body = orjson.dumps({**top, "batch": [track, {**track, name: own}]})
        with pytest.raises(Rejected) as info:
            segment_body(body, None)
        assert (info.value.status, info.value.code) == (400, "not_object")
        assert f"batch[1].{name} must be a JSON object" in info.value.message
    assert rejected(segment_body, orjson.dumps({**track, name: own}), "track") == (
        400, "not_object")
    assert rejected(flat_body, orjson.dumps([track, {**track, name: own}])) == (
        400, "not_object")
    # none: absent, null, or the empty array some clients send for an empty map
    for none in (None, []):
        [merged] = segment_body(orjson.dumps({**shared, "batch": [{**track, name: none}]}),
                                None).events
        assert merged[name] == shared[name]


def test_a_batchs_shared_context_counts_in_each_event_it_goes_into():
    """A 400 KB shared context and 1,500 small events would be 1,500 records of 400 KB:
    each event is bounded with what it takes from the batch."""
    small = {"type": "track", "event": "x", "userId": "u"}
    shared = {"blob": "x" * (EVENT_LIMIT - 200)}
    fits = segment_body(orjson.dumps({"batch": [small] * 3, "context": shared}), None)
    assert [len(orjson.dumps(e)) <= EVENT_LIMIT for e in fits.events] == [True] * 3
    bigger = {"blob": "x" * (EVENT_LIMIT + 1)}
    assert rejected(segment_body, orjson.dumps({"batch": [small] * 1_500, "context": bigger}),
                    None) == (400, "too_large")
    own = {**small, "context": {"note": "y" * 300}}  # its own context and the shared one
    assert rejected(segment_body, orjson.dumps({"batch": [own], "context": shared}),
                    None) == (400, "too_large")


def test_the_event_limit_is_on_the_event_as_sent():
    def event(size: int) -> dict[str, object]:
        base = {"type": "track", "event": "x", "userId": "u", "properties": {"blob": ""}}
        base["properties"] = {"blob": "x" * (size - len(orjson.dumps(base)))}
        assert len(orjson.dumps(base)) == size
        return base

    at_limit = event(EVENT_LIMIT)
    # what the server stamps (messageId, receivedAt, tenant, context.ip) does not count
    for body in (segment_body(orjson.dumps(at_limit), "track"),
                 segment_body(orjson.dumps({"batch": [at_limit, at_limit]}), None),
                 flat_body(orjson.dumps({"events": [at_limit]})),
                 flat_body(orjson.dumps(at_limit))):
        stamped = stamp(body.events[0], tenant="shop-a", received_at=NOW,
                        client_ip="203.0.113.5")
        assert len(frame(stamped)[1]) > EVENT_LIMIT
    # a pretty-printed body: the event's JSON, not the spaces around it
    assert segment_body(orjson.dumps({"batch": [at_limit]}, option=orjson.OPT_INDENT_2)
                        + b" " * EVENT_LIMIT, None).events == [at_limit]
    over = event(EVENT_LIMIT + 1)
    assert rejected(segment_body, orjson.dumps(over), "track") == (400, "too_large")
    assert rejected(segment_body, orjson.dumps({"batch": [at_limit, over]}), None) == (
        400, "too_large")
    assert rejected(flat_body, orjson.dumps([over])) == (400, "too_large")


def test_flat_bodies_one_many_or_wrapped():
    one = {"category": "user", "event_type": "login", "user_id": "u"}
    assert flat_body(orjson.dumps(one)).events == [one]
    assert flat_body(orjson.dumps([one, one])).events == [one, one]
    wrapped = flat_body(orjson.dumps({"writeKey": "k", "events": [one]}))
    assert wrapped.events == [one] and wrapped.write_key == "k"


def test_stamping_overrides_the_tenant_and_fixes_the_message_id():
    event = {"type": "track", "event": "x", "userId": "u", "tenant": "other",
             "context": {"locale": "de"}}
    first = stamp(event, tenant="shop-a", received_at=NOW, client_ip="203.0.113.5")
    again = stamp(event, tenant="shop-a", received_at=NOW.replace(minute=5), client_ip=None)
    assert first["tenant"] == "shop-a" and first["receivedAt"] == "2026-11-21T12:00:00.000Z"
    assert first["context"] == {"locale": "de", "ip": "203.0.113.5"}
    assert first["messageId"] == again["messageId"]  # a resend is recognised downstream
    assert event["tenant"] == "other"  # the input is left alone
    named = stamp({**event, "context": {"ip": "198.51.100.1"}}, tenant="t", received_at=NOW,
                  client_ip="203.0.113.5")
    assert named["context"]["ip"] == "198.51.100.1"
    flat = stamp({"category": "user", "event_type": "login", "user_id": "u", "tenant": "b"},
                 tenant="a", received_at=NOW, client_ip="203.0.113.5")
    assert (flat["tenant"], flat["ip_address"], flat["received_at"]) == (
        "a", "203.0.113.5", "2026-11-21T12:00:00.000Z") and flat["message_id"]


def test_frames_are_keyed_by_device():
    assert frame({"userId": "u1", "anonymousId": "a"})[0] == b"a"
    assert frame({"userId": "u1"})[0] == b"u1"
    assert frame({"anonymousId": "a"})[0] == b"a"
    assert frame({"user_id": 7})[0] == b"7"
    assert frame({"type": "track"})[0] is None
    assert frame({"userId": "u1"})[1] == b'{"userId":"u1"}'


def test_keys_from_authorization_headers():
    basic = "Basic " + base64.b64encode(b"ssk_key:").decode()
    assert credentials(basic) == "ssk_key"
    assert credentials("Bearer ssk_other") == "ssk_other"
    assert credentials("bearer  ssk_other ") == "ssk_other"
    assert credentials("Basic !!!") is None
    assert credentials("Digest x") is None
    assert credentials(None) is None


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    trusted = parse_networks("10.0.0.0/8, 192.168.1.7")
    assert client_ip("203.0.113.9", "1.1.1.1", trusted) == "203.0.113.9"  # not a proxy
    assert client_ip("10.1.2.3", "198.51.100.4", trusted) == "198.51.100.4"
    # a client's own X-Forwarded-For entry is never believed: the first untrusted from the right
    assert client_ip("10.1.2.3", "6.6.6.6, 198.51.100.4, 192.168.1.7", trusted) == "198.51.100.4"
    assert client_ip("10.1.2.3", None, trusted) == "10.1.2.3"
    with pytest.raises(ValueError, match="'nonsense'"):
        parse_networks("10.0.0.0/8, nonsense")
