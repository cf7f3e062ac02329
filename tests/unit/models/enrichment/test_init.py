"""The enrichment an event gets from validation, and where it travels."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from models.enrichment import ENRICHMENT_KEY, is_bot_event, with_enrichment
from models.serde import event_to_json
from models.validation import Rules, validate_bytes
from tests.unit.models.enrichment.test_useragent import GOOGLEBOT, SAFARI_IPHONE

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def page(context: dict, **extra) -> bytes:
    return orjson.dumps({"type": "page", "userId": "u1", "timestamp": "2026-03-01T10:00:00Z",
                         "context": context, **extra})


def test_validation_adds_the_enrichment_to_the_canonical_event():
    raw = page({"userAgent": SAFARI_IPHONE, "ip": "81.2.69.142",
                "page": {"url": "https://shop.example/", "referrer": "https://t.co/x"}})
    event = validate_bytes(raw, Rules(enrich=True), NOW).event
    canonical = orjson.loads(event_to_json(event))
    assert canonical["context"][ENRICHMENT_KEY] == {
        "browser": "Mobile Safari", "os": "iOS", "device_type": "mobile", "is_bot": False,
        "country": "GB", "city": "", "source_class": "social"}
    assert not is_bot_event(canonical)


def test_off_by_default_in_the_rules():
    event = validate_bytes(page({"userAgent": GOOGLEBOT}), Rules(), NOW).event
    assert ENRICHMENT_KEY not in orjson.loads(event_to_json(event))["context"]


def test_a_bot_is_flagged_and_a_sent_enrichment_is_replaced():
    raw = page({"userAgent": GOOGLEBOT, ENRICHMENT_KEY: {"is_bot": False, "country": "FR"}})
    canonical = orjson.loads(event_to_json(validate_bytes(raw, Rules(enrich=True), NOW).event))
    assert is_bot_event(canonical)
    assert canonical["context"][ENRICHMENT_KEY]["country"] == ""


def test_a_page_calls_referrer_may_be_in_its_properties():
    data = {"type": "page", "context": {},
            "properties": {"url": "https://shop.example/a", "referrer": "https://www.bing.com/"}}
    assert with_enrichment(data)[ENRICHMENT_KEY]["source_class"] == "search"
    track = {**data, "type": "track"}  # only a page call's properties describe a page
    assert with_enrichment(track)[ENRICHMENT_KEY]["source_class"] == "direct"


def test_odd_contexts_never_raise():
    assert with_enrichment({"context": "nope"}) == "nope"  # validation rejects it
    odd = with_enrichment({"context": {"userAgent": 42, "ip": ["x"], "page": "y", "campaign": 1}})
    assert odd[ENRICHMENT_KEY]["device_type"] == "" and odd[ENRICHMENT_KEY]["source_class"] == "direct"
    assert with_enrichment({})[ENRICHMENT_KEY]["is_bot"] is False
    result = validate_bytes(page("nope"), Rules(enrich=True), NOW)  # type: ignore[arg-type]
    assert not result.ok


def test_is_bot_event_reads_only_the_enrichment():
    assert not is_bot_event({"context": None})
    assert not is_bot_event({"context": {"userAgent": GOOGLEBOT}})
    assert is_bot_event({"context": {ENRICHMENT_KEY: {"is_bot": True}}})


def test_huge_fields_are_cut_before_the_parsers_and_caches(monkeypatch):
    import models.enrichment as enrichment

    seen: list[str] = []
    monkeypatch.setattr(enrichment, "device_of", lambda agent: _record(seen, agent))
    enrichment._enrichment.cache_clear()
    junk = {"context": {"userAgent": "Mozilla/5.0 (X11) " + "A" * 250_000, "ip": "9" * 100_000,
                        "page": {"referrer": "https://" + "x" * 250_000}}}
    assert with_enrichment(junk)[ENRICHMENT_KEY]["source_class"] == "referral"
    assert [len(agent) for agent in seen] == [enrichment.MAX_AGENT]
    enrichment._enrichment.cache_clear()


def _record(seen: list[str], agent: str):
    from models.enrichment.useragent import Device

    seen.append(agent)
    return Device()


def test_a_configured_maxmind_database_gives_the_city_in_the_canonical_event(monkeypatch):
    from models.settings import Settings
    from streams.stages.validation import rules_from
    from tests.unit.models.enrichment.test_geo import MAXMIND_TEST_DB

    monkeypatch.setenv("SHOPSTREAM_GEOIP_DATABASE", str(MAXMIND_TEST_DB))
    rules = rules_from(Settings())
    event = validate_bytes(page({"userAgent": SAFARI_IPHONE, "ip": "89.160.20.115"}), rules, NOW).event
    context = orjson.loads(event_to_json(event))["context"]
    assert (context[ENRICHMENT_KEY]["country"], context[ENRICHMENT_KEY]["city"]) == ("SE", "Linköping")
    assert context["ip"] == "89.160.20.0"  # the place came from the full address, then truncated


def test_warm_up_loads_the_parsers_before_the_first_event():
    from models.enrichment import warm_up
    from models.enrichment.geo import _shipped, place_of
    from models.enrichment.useragent import device_of

    device_of.cache_clear()
    place_of.cache_clear()
    _shipped.cache_clear()
    warm_up()
    # the user-agent rules parsed a browser, and the shipped places database is open
    assert device_of.cache_info().currsize == 1 and device_of(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0 Safari/537.36").browser == "Chrome"
    assert _shipped.cache_info().currsize == 1
