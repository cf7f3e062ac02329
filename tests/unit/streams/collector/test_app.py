"""The collector's HTTP answers, in process (aiohttp's test server; keys fed to the key
store as its topic would, Kafka replaced by a send that records or fails): CORS on every
answer a browser may need to read, JSON errors, unknown paths."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer

from models.keys import Role, new_key
from models.settings import load_settings
from streams.collector.app import Collector, build_app
from streams.collector.intake import EVENT_LIMIT
from streams.collector.keystore import KeyStore
from streams.collector.producer import NotAcknowledged

SHOP = "https://shop.a"
ELSEWHERE = "https://elsewhere.example"
TRACK = {"type": "track", "event": "Product Viewed", "userId": "u1",
         "properties": {"product_id": "p1"}}
Answer = tuple[int, dict[str, Any], dict[str, str]]


class Kafka:
    """The collector's send: records what it is given, or fails as told."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.failure: Exception | None = None

    async def send(self, records: list[tuple[bytes | None, bytes]]) -> None:
        if self.failure is not None:
            raise self.failure
        self.records.extend(records)


def collector_with_keys(kafka: Kafka) -> tuple[Collector, dict[str, str]]:
    keys = KeyStore("127.0.0.1:9", "shop.keys")  # never started: fed below
    made: dict[str, str] = {}
    for name, origins in {"shop": (SHOP,), "revoked": (ELSEWHERE,), "server": ()}.items():
        made[name], record = new_key("shop-a", Role.WRITE, "", origins=origins)
        if name == "revoked":
            record = record.revoke()
        keys.apply(record.key_id.encode(), record.to_json())
    # stored before origins were kept lower-case
    made["upper"], record = new_key("shop-a", Role.WRITE, "")
    record = replace(record, origins=("https://Shop.Example.COM",))
    keys.apply(record.key_id.encode(), record.to_json())
    return Collector(load_settings(), keys, kafka.send), made


def answers(collector: Collector, requests: list[tuple[str, str, dict[str, Any]]]
            ) -> list[Answer]:
    """(status, JSON body, headers) of each request, in turn."""
    async def run() -> list[Answer]:
        app = build_app(collector, lambda: (True, {}))
        out: list[Answer] = []
        async with TestClient(TestServer(app)) as client:
            for method, path, options in requests:
                async with client.request(method, path, **options) as response:
                    raw = await response.read()
                    try:
                        body = orjson.loads(raw) if raw else {}
                    except orjson.JSONDecodeError:
                        body = {"not JSON": raw.decode(errors="replace")}
                    out.append((response.status, body, dict(response.headers)))
        return out

    return asyncio.run(run())


def beacon(key: str, origin: str | None, batch: list[dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    """What the browser SDK sends: text/plain, the key in the body (no preflight)."""
    headers = {"Content-Type": "text/plain;charset=UTF-8", **({"Origin": origin} if origin else {})}
    return {"data": orjson.dumps({"batch": batch or [TRACK], "writeKey": key}),
            "headers": headers}


def test_a_browser_can_read_every_answer_refusals_included():
    kafka = Kafka()
    collector, key = collector_with_keys(kafka)
    cases = {
        "acknowledged": (beacon(key["shop"], SHOP), 200, None),
        "a revoked key": (beacon(key["revoked"], ELSEWHERE), 403, "key_invalid"),
        "an origin no key allows": (beacon(key["shop"], ELSEWHERE), 403, "origin_not_allowed"),
        "an unknown key": (beacon("ssk_0123456789ab_" + "x" * 43, ELSEWHERE), 403,
                           "key_invalid"),
        "no key": ({"data": orjson.dumps({"batch": [TRACK]}), "headers": {"Origin": ELSEWHERE}},
                   401, "key_missing"),
        "not JSON": ({"data": b"{oops", "headers": {"Origin": SHOP}}, 400, "json_invalid"),
    }
    got = answers(collector, [("POST", "/v1/batch", options)
                              for options, _, _ in cases.values()])
    for (what, (options, status, code)), (got_status, body, head) in zip(
            cases.items(), got, strict=True):
        assert (got_status, body.get("code")) == (status, code), (what, body)
        origin = options["headers"]["Origin"]
        assert head.get("Access-Control-Allow-Origin") == origin, (what, head)
        assert head.get("Vary") == "Origin", what
    assert len(kafka.records) == 1

    # Kafka away (503) or a bug (500): readable too, Retry-After exposed to the page
    kafka.failure = NotAcknowledged("no answer")
    [(status, body, head)] = answers(collector, [("POST", "/v1/batch",
                                                  beacon(key["shop"], SHOP))])
    assert (status, body["code"], head["Retry-After"]) == (503, "kafka_unavailable", "5")
    assert head["Access-Control-Allow-Origin"] == SHOP
    assert head["Access-Control-Expose-Headers"] == "Retry-After"
    kafka.failure = RuntimeError("a bug")
    [(status, body, head)] = answers(collector, [("POST", "/v1/batch",
                                                  beacon(key["shop"], SHOP))])
    assert (status, body["code"]) == (500, "internal_error")
    assert head["Access-Control-Allow-Origin"] == SHOP

    # a server (no Origin) gets no CORS headers, and is not held to origins
    kafka.failure = None
    [(status, _, head)] = answers(collector, [("POST", "/v1/batch", beacon(key["shop"], None))])
    assert status == 200 and "Access-Control-Allow-Origin" not in head


def test_origins_are_matched_in_any_case_of_scheme_and_host():
    collector, key = collector_with_keys(Kafka())
    got = answers(collector, [
        ("POST", "/v1/batch", beacon(key["upper"], "https://shop.example.com")),
        ("POST", "/v1/batch", beacon(key["shop"], "HTTPS://SHOP.A")),
        ("POST", "/v1/batch", beacon(key["shop"], "https://shop.a:8443")),
    ])
    assert [(status, body.get("code")) for status, body, _ in got] == [
        (200, None), (200, None), (403, "origin_not_allowed")]


def test_unknown_paths_are_json_404s_and_preflight_answers_on_the_event_paths():
    collector, key = collector_with_keys(Kafka())
    preflight = {"headers": {"Origin": ELSEWHERE, "Access-Control-Request-Method": "POST",
                             "Access-Control-Request-Headers": "content-type,authorization"}}
    paths = ["/v1/batch", "/v1/import", "/v1/track", "/v1/group", "/collect",
             "/api/v1/core/collect/"]
    got = answers(collector, [
        ("POST", "/v1/trak", beacon(key["shop"], SHOP)),
        ("GET", "/nothing", {}),
        ("OPTIONS", "/nothing", preflight),
        ("GET", "/v1/batch", {"headers": {"Origin": SHOP}}),
        *[("OPTIONS", path, preflight) for path in paths],
    ])
    (trak, trak_body, trak_head), (nothing, nothing_body, _), (unknown_preflight, _, _), \
        (get_batch, get_body, get_head) = got[:4]
    assert (trak, trak_body["success"], trak_body["code"]) == (404, False, "not_found")
    assert "/v1/trak" in trak_body["message"]
    assert trak_head["Access-Control-Allow-Origin"] == SHOP
    assert (nothing, nothing_body["code"]) == (404, "not_found")
    assert "/nothing" in nothing_body["message"]
    assert unknown_preflight == 404
    assert (get_batch, get_body["code"]) == (405, "method_not_allowed")
    assert set(get_head["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert get_head["Access-Control-Allow-Origin"] == SHOP
    for path, (status, _, head) in zip(paths, got[4:], strict=True):
        assert status == 204, path
        assert head["Access-Control-Allow-Origin"] == ELSEWHERE, path
        assert "POST" in head["Access-Control-Allow-Methods"], path
        assert "Authorization" in head["Access-Control-Allow-Headers"], path


def test_bad_bodies_are_json_400s_and_the_limit_is_on_the_event_as_sent():
    kafka = Kafka()
    collector, key = collector_with_keys(kafka)
    at_limit = {**TRACK, "properties": {"blob": ""}}
    at_limit["properties"]["blob"] = "x" * (EVENT_LIMIT - len(orjson.dumps(at_limit)))
    assert len(orjson.dumps(at_limit)) == EVENT_LIMIT
    batch = {"context": {"library": {"name": "test"}}, "writeKey": key["server"]}
    got = answers(collector, [
        ("POST", "/v1/batch", {"data": orjson.dumps({**batch, "batch": [
            TRACK, {**TRACK, "context": "oops"}]})}),
        ("POST", "/v1/batch", {"data": orjson.dumps({**batch, "batch": [
            {**TRACK, "integrations": 5}]})}),
        ("POST", "/v1/batch", {"data": orjson.dumps({"writeKey": key["server"],
                                                     "batch": [at_limit]})}),
    ])
    assert [(status, body.get("code")) for status, body, _ in got] == [
        (400, "not_object"), (400, "not_object"), (200, None)]
    assert "batch[1].context" in got[0][1]["message"]
    [(_, stored)] = kafka.records  # stamped, over the limit, yet taken: it was sent within
    assert len(stored) > EVENT_LIMIT
