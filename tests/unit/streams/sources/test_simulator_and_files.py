"""The shop simulator and the file readers behind ``shopstream produce``."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from models.errors import ShopstreamError
from models.validation import Rules, validate_bytes
from streams.sources.files import jsonl_records, rees46_records
from streams.sources.ingest import validated_records
from streams.sources.simulator import SimConfig, simulate
from tests.support import REPO

LATER = datetime(2027, 1, 1, tzinfo=UTC)
SAMPLE = REPO.parent / "shared" / "data" / "rees46-2019-oct-sample.csv"
HEAD = REPO / "tests" / "data" / "rees46-head.csv"


def test_same_seed_same_bytes_other_seed_other_bytes():
    first = [e.to_bytes() for e in simulate(SimConfig(seed=11), 800)]
    again = [e.to_bytes() for e in simulate(SimConfig(seed=11), 800)]
    other = [e.to_bytes() for e in simulate(SimConfig(seed=12), 800)]
    assert first == again != other


def test_event_time_follows_rate():
    events = [e for e in simulate(SimConfig(seed=1, rate=10, malformed=0, duplicates=0), 21)]
    assert events[0].value["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert events[20].value["timestamp"] == "2026-01-01T00:00:02.000Z"


def test_valid_events_validate_and_malformed_do_not():
    verdicts: Counter[tuple[str, bool]] = Counter()
    names: Counter[str] = Counter()
    for event in simulate(SimConfig(seed=5, malformed=0.05, duplicates=0.02), 15000):
        result = validate_bytes(event.to_bytes(), Rules(), LATER)
        verdicts[(event.kind, result.ok)] += 1
        if result.ok:
            names[result.event.name_or_type] += 1
    assert verdicts[("valid", False)] == 0 and verdicts[("duplicate", False)] == 0
    assert verdicts[("malformed", True)] == 0
    assert 0.03 < verdicts[("malformed", False)] / 15000 < 0.07
    assert verdicts[("duplicate", True)] > 50
    # the funnel narrows: views > adds > checkouts > orders > refunds
    assert (names["Product Viewed"] > names["Product Added"] > names["Checkout Started"]
            > names["Order Completed"] > names["Order Refunded"] + names["Order Cancelled"] > 0)
    assert names["page"] > 0 and names["identify"] > 0 and names["Coupon Applied"] > 0


def test_orders_are_consistent_and_carts_are_recovered():
    orders, abandoned_then_ordered = 0, 0
    carts_added: dict[str, str] = {}
    for event in simulate(SimConfig(seed=3, malformed=0, duplicates=0, flat=0), 20000):
        e = event.value
        if e.get("event") == "Product Added":
            carts_added.setdefault(e["properties"]["cart_id"], e["context"]["sessionId"])
        if e.get("event") == "Order Completed":
            orders += 1
            p = e["properties"]
            lines = sum(line["line_total"] for line in p["products"])
            assert lines == p["subtotal"] - p["discount"]
            assert p["total"] == p["subtotal"] + p["tax"] + p["shipping"] - p["discount"]
            if carts_added.get(p["cart_id"]) not in (None, e["context"]["sessionId"]):
                abandoned_then_ordered += 1
    assert orders > 100 and abandoned_then_ordered > 0


def test_some_events_use_the_flat_envelope():
    flats = [e for e in simulate(SimConfig(seed=2, flat=0.5), 2000)
             if isinstance(e.value, dict) and "event_type" in e.value]
    assert flats
    assert validate_bytes(flats[0].to_bytes(), Rules(), LATER).event.event == "Product Viewed"


def test_a_share_of_sessions_are_crawlers_and_none_by_default():
    from models.enrichment import is_bot_event
    from models.serde import event_to_json

    def canonical(config: SimConfig) -> list[dict]:
        rules = Rules(enrich=True)
        now = datetime(2026, 2, 1, tzinfo=UTC)
        out = []
        for e in simulate(config, 3000):
            result = validate_bytes(e.to_bytes(), rules, now)
            if result.ok:
                out.append(orjson.loads(event_to_json(result.event)))
        return out

    plain = canonical(SimConfig(seed=5))
    assert not any(is_bot_event(e) for e in plain)
    assert {e["context"]["enrichment"]["device_type"] for e in plain if "userId" in e
            and e.get("context", {}).get("userAgent")} == {"desktop", "mobile", "tablet"}
    crawled = canonical(SimConfig(seed=5, bots=0.2))
    bots = [e for e in crawled if is_bot_event(e)]
    assert 0.1 < len(bots) / len(crawled) < 0.4
    assert all(e["anonymousId"].startswith("bot-") and "userId" not in e for e in bots)
    assert all(not is_bot_event(e) for e in crawled if "userId" in e)
    assert {e["event"] for e in bots if e["type"] == "track"} == {"Product Viewed", "Product Added"}


def test_jsonl_records_key_by_user():
    data = b'{"userId":"u1"}\n{"user_id":7}\nnot json\n'
    assert [(n, k) for n, k, _ in jsonl_records(io.BytesIO(data), 1000)] == [
        (1, b"u1"), (2, b"7"), (3, None)]


def test_jsonl_records_skip_blank_lines():
    """``produce`` sends no empty record for a blank line (it would be a dead letter)."""
    data = b'\n{"userId":"u1"}\n  \n\r\n{"userId":"u2"}\n\n'
    assert [(n, line) for n, _, line in jsonl_records(io.BytesIO(data), 1000)] == [
        (2, b'{"userId":"u1"}'), (5, b'{"userId":"u2"}')]


def rees46_files() -> list[Path]:
    """The shipped head of the sample, plus the full sample when shared/ is beside us."""
    return [p for p in (HEAD, SAMPLE) if p.exists()]


@pytest.mark.parametrize("path", rees46_files(), ids=lambda p: p.name)
def test_rees46_rows_map_onto_valid_events(path):
    """Every row maps onto a valid event, except views with a price of 0.00: those break
    the contract (price > 0) and are rejected with exactly that code."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    zero_price = sum(1 for r in rows if Decimal(r["price"]) <= 0)
    with path.open("rb") as f:
        records = list(rees46_records(f))
    assert len(records) == len(rows)
    names: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for _n, key, value in records:
        result = validate_bytes(value, Rules(), LATER)
        if not result.ok:
            rejected[result.issues[0].code] += 1
            continue
        names[result.event.event] += 1
        assert key == result.event.userId.encode()
    assert sum(rejected.values()) == zero_price and set(rejected) <= {"price_not_positive"}
    kinds = Counter(r["event_type"] for r in rows)
    assert names["Product Added"] == kinds["cart"]
    assert names["Order Completed"] == kinds["purchase"]
    assert names["Product Viewed"] == kinds["view"] - zero_price
    order = next(validate_bytes(v, Rules(), LATER).event for _, _, v in records
                 if b"Order Completed" in v)
    assert isinstance(order.properties["total"], Decimal)
    assert order.timestamp.year == 2019


def test_full_sample_figures_when_present():
    """The shared sample's documented figures: 17,434 rows, 19 of them priced 0.00."""
    if not SAMPLE.exists():
        return  # only the shipped head is here; the test above covered it
    with SAMPLE.open("rb") as f:
        verdicts = Counter(validate_bytes(v, Rules(), LATER).ok for _, _, v in rees46_records(f))
    assert verdicts == {True: 17434 - 19, False: 19}


def test_rees46_message_ids_are_stable():
    row = (b"event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
           b"user_session\n2019-10-01 00:00:00 UTC,view,1,2,a.b,x,1.50,9,s\n")
    first = list(rees46_records(io.BytesIO(row)))
    assert first == list(rees46_records(io.BytesIO(row)))


def test_a_share_of_sessions_browse_anonymously_then_log_in_as_analytics_js_sends_them():
    from streams.sources.logins import NEEDS_LOGIN

    events = [e.value for e in simulate(SimConfig(seed=4, malformed=0, duplicates=0, flat=0),
                                        8000)]
    logins = {e["anonymousId"]: e for e in events if e["type"] == "identify" and "anonymousId" in e}
    sessions = {e["context"]["sessionId"] for e in events}
    anonymous_sessions = {e["context"]["sessionId"] for e in events if "anonymousId" in e}
    assert 0.1 < len(anonymous_sessions) / len(sessions) < 0.3 and len(logins) > 100
    for device, login in logins.items():
        assert login["traits"]["email"] == f"{login['userId']}@example.com"
        assert login["traits"]["name"]
        ids = [(e.get("userId"), e is login) for e in events if e.get("anonymousId") == device]
        at = ids.index((login["userId"], True))
        assert {user for user, _ in ids[:at]} <= {None}  # anonymousId only before the login
        assert {user for user, _ in ids[at:]} == {login["userId"]}  # both ids after it
    assert all("userId" in e for e in events if e.get("event") in NEEDS_LOGIN)
    plain = simulate(SimConfig(seed=4, malformed=0, duplicates=0, anonymous=0), 3000)
    assert not any("anonymousId" in e.value for e in plain)


def test_some_carts_started_anonymously_are_abandoned_after_the_login_with_the_email():
    from models.serde import event_to_json
    from streams.live.events import live_event
    from streams.live.state import LiveConfig, PartitionState

    state, triggers = PartitionState(LiveConfig()), []
    for e in simulate(SimConfig(seed=4, rate=1, malformed=0, duplicates=0), 8000):  # 2 h
        result = validate_bytes(e.to_bytes(), Rules(), LATER)
        triggers += state.apply(live_event(orjson.loads(event_to_json(result.event))), 0).triggers
    # every anonymous session logs in before it ends, long before its cart is abandoned
    stitched = [t for t in triggers if t.type == "cart_abandoned" and t.anonymous_id]
    assert len(stitched) > 10
    assert all(t.user_id and t.traits["email"] == f"{t.user_id}@example.com"
               and t.traits["name"] for t in stitched)


@pytest.mark.parametrize("content", [b'{"a":1}\n{"b":2}\n', b"",
                                     b"event_time,event_type,product_id\n2019-10-01,view,1\n"])
def test_a_file_that_is_not_rees46_is_said_to_be_so_before_any_row(content):
    with pytest.raises(ShopstreamError, match="not a REES46 CSV file: .* lacks .*user_id"):
        list(rees46_records(io.BytesIO(content)))


# -- what editors and spreadsheets write: a byte-order mark, bytes that are not UTF-8 -------


BOM = b"\xef\xbb\xbf"
CSV_HEADER = b"category,event_type,user_id,product_id,price\n"


def test_a_byte_order_mark_is_skipped_in_json_lines_and_csv():
    line = orjson.dumps({"type": "track", "event": "Product Viewed", "userId": "u1",
                         "properties": {"product_id": "p1"}})
    [(number, _key, value)] = jsonl_records(io.BytesIO(BOM + line + b"\n"), 1 << 20)
    assert number == 1 and validate_bytes(value, Rules(), LATER).ok
    body = BOM + CSV_HEADER + b"product,view,u1,p1,9.99\n"
    [(_n, _raw, result)] = list(validated_records(io.BytesIO(body), "csv", Rules(), lambda: LATER))
    assert result.ok, result.issues  # the first column is "category", not "\ufeffcategory"


def test_a_row_that_is_not_utf8_is_one_dead_letter_and_the_rows_after_it_are_read():
    body = (CSV_HEADER + b"product,view,u1,p1,9.99\n" + b"product,view,caf\xe9,p2,5\n"
            + b"product,view,u2,p3,7\n")
    read = list(validated_records(io.BytesIO(body), "csv", Rules(), lambda: LATER))
    assert [(number, result.ok) for number, _raw, result in read] == [
        (2, True), (3, False), (4, True)]
    _number, raw, refused = read[1]
    assert refused.issues[0].code == "encoding_invalid" and b"caf\xe9" in raw
    rees46 = (b"event_time,event_type,product_id,category_id,category_code,brand,price,"
              b"user_id,user_session\n"
              b"2019-10-01 00:00:00 UTC,view,1,2,,br\xe9nd,9.99,7,s1\n"
              b"2019-10-01 00:00:01 UTC,view,1,2,,brand,9.99,7,s1\n")
    records = list(rees46_records(io.BytesIO(rees46)))  # what produce sends
    assert [validate_bytes(value, Rules(), LATER).ok for _n, _key, value in records] == [
        False, True]
    assert validate_bytes(records[0][2], Rules(), LATER).issues[0].code == "encoding_invalid"
    ingested = list(validated_records(io.BytesIO(rees46), "rees46", Rules(), lambda: LATER))
    assert [result.ok for _n, _raw, result in ingested] == [False, True]


def test_a_header_line_that_is_not_utf8_is_said_to_be_so_before_any_row():
    body = b"category,event_type,user_id,br\xe9nd\nproduct,view,u1,b\n"
    for read in (lambda f: list(validated_records(f, "csv", Rules(), lambda: LATER)),
                 lambda f: list(rees46_records(f))):
        with pytest.raises(ShopstreamError, match="header line is not UTF-8"):
            read(io.BytesIO(body))
