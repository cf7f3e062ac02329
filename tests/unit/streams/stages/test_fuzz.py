"""Fuzzing the contract and every consuming stage's decisions, without a broker.

A corpus of simulated traffic (every event kind, the simulator's own malformed and
duplicate events, a few hand-made ones) is mutated: at the byte level (flips,
truncation, insertion), at the JSON level (type swaps, deep nesting, huge and odd
strings, NaN/Infinity, numbers as strings, big integers, duplicate keys) and with
oversize bodies and keys. Whatever comes in:

- the validation stage never raises and decides exactly one outcome; the same input
  again is a duplicate when it was accepted, and refused again when it was not;
- what it accepts becomes ClickHouse rows that fit their columns (``sinks.rows``) and a
  step of the live stage, never a dead letter there;
- every record a stage asks to write (output, dead letter, dedupe entry, trigger, state
  change) is below Kafka's 1 MB message limit, key and value together.

Deterministic (``derandomize``) and quick: it runs on every push.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.ecommerce import EventName
from models.errors import Code
from models.limits import INT32_MAX, MONEY_LIMIT
from models.serde import dumps
from models.settings import load_settings
from models.times import datetime_to_ms
from sinks.rows import EVENT_COLUMNS, ITEM_COLUMNS, rows_for
from streams.kafka.records import Consumed, Record
from streams.live.state import LiveConfig, PartitionState
from streams.sources.simulator import SimConfig, simulate
from streams.stages.dedupe import DedupeMemory
from streams.stages.live import LiveDecisions, Step
from streams.stages.validation import Decision, ValidationStage, rules_from
from tests.unit.conftest import NOW, order, track

SETTINGS = load_settings()
TOPICS = SETTINGS.topics
RULES = rules_from(SETTINGS)
NOW_MS = datetime_to_ms(NOW)
KAFKA_LIMIT = 1_000_000  # bytes, key + value: the broker's default message.max.bytes
DAY_MS = 86_400_000
SIM_START = NOW - timedelta(hours=2)  # the traffic and the hand-made events share a dedupe window

# CI runs a quick deterministic sample; FUZZ_EXAMPLES=5000 FUZZ_RANDOM=1 digs deeper locally
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
                derandomize="FUZZ_RANDOM" not in os.environ, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- the corpus ---------------------------------------------------------------------------

def _corpus() -> list[bytes]:
    """Up to 4 simulated events of each kind and name, and hand-made ones the simulator
    rarely or never sends (refunds, cancellations, custom events, flat events)."""
    picked: dict[tuple[str, str], list[bytes]] = {}
    config = SimConfig(seed=21, malformed=0.05, duplicates=0.02, start=SIM_START)
    for event in simulate(config, 4000):
        value = event.value
        name = "bytes" if isinstance(value, bytes) else str(
            value.get("event") or value.get("type") or value.get("category"))
        group = picked.setdefault((event.kind, name), [])
        if len(group) < 4:
            group.append(event.to_bytes())
    made = [
        track("Order Refunded", {"order_id": "o-1", "currency": "USD", "products": [
            {"product_id": "p1", "price": "19.99", "quantity": 2}]}),
        track("Order Cancelled", {"order_id": "o-2", "total": "5.00"}),
        track("Order Completed", order()),
        track("Product Added", {"product_id": "p1", "cart_id": "c1", "quantity": 2, "price": "9.99",
                                "name": "Shoe", "category": "shoes.running", "currency": "EUR"}),
        track("Wishlist Shared", {"quantity": "3", "price": "1.25", "revenue": 7, "items": [1, 2]},
              context={"sessionId": "s1", "campaign": {"source": "mail"},
                       "page": {"url": "https://shop.example/p/1", "path": "/p/1"}}),
        {"category": "product", "event_type": "cart_add", "user_id": "u9", "product_id": "p9",
         "quantity": 1, "price": "3.50", "timestamp": "2026-11-21T10:00:00Z"},
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "a@example.com"}},
        # only track calls are named events: whatever a page call says its event is
        {"type": "page", "anonymousId": "a2", "event": "Order Completed",
         "properties": {"products": "abc", "total": "x"}},
        {"type": "page", "anonymousId": "a3", "event": "Product Added",
         "properties": {"product_id": {"a": 1}, "price": "-50", "quantity": "-3"}},
        track(" Order Completed ", order()),  # looked up and stored stripped
    ]
    return [raw for group in picked.values() for raw in group] + [dumps(m) for m in made]


def _loads_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


CORPUS = _corpus()
OBJECTS = [obj for obj in map(_loads_or_none, CORPUS) if isinstance(obj, dict)]


# -- the stages and what every decision must hold ----------------------------------------

def validation_stage() -> ValidationStage:
    stage = ValidationStage(RULES, TOPICS.events, TOPICS.dlq, "dedupe", DedupeMemory(window_ms=DAY_MS))
    stage.load_memory(0, {})
    return stage


def live_state() -> PartitionState:
    return PartitionState(LiveConfig.from_settings(SETTINGS))


LIVE = LiveDecisions(TOPICS)


def assert_fits(records: list[Record]) -> None:
    for record in records:
        size = len(record.key or b"") + len(record.value or b"")
        assert size < KAFKA_LIMIT, (record.topic, size)


def assert_step_fits(step: Step) -> None:
    assert_fits(step.records)
    for key, value in step.writes.items():  # the state changes, written at the commit
        size = len(orjson.dumps(key)) + (0 if value is None else len(dumps(value)))
        assert size < KAFKA_LIMIT, (key[:80], size)


def assert_fits_columns(payload: bytes) -> None:
    """The rows of an accepted event fit their ClickHouse columns: Int32 quantities,
    Decimal(18, 4) amounts, nothing rounded."""
    event_row, item_rows = rows_for(payload)
    assert len(event_row) == len(EVENT_COLUMNS)
    rows = [dict(zip(EVENT_COLUMNS, event_row, strict=True))]
    rows += [dict(zip(ITEM_COLUMNS, row, strict=True)) for row in item_rows]
    for row in rows:
        assert -(2**31) <= row["quantity"] <= INT32_MAX, row["quantity"]
        for column in ("revenue", "value", "discount", "price", "line_total"):
            if column in row:
                amount: Decimal = row[column]
                assert abs(amount) < MONEY_LIMIT, (column, amount)
                assert amount == amount.quantize(Decimal("0.0001")), (column, amount)


def decide(stage: ValidationStage, raw: bytes, key: bytes | None = b"k", offset: int = 0) -> Decision:
    decision = stage.handle(Consumed(TOPICS.raw, 0, offset, key, raw), NOW)
    assert_fits(decision.records)
    if decision.outcome == "canonical":
        assert decision.code is None
        assert [r.topic for r in decision.records].count(TOPICS.events) == 1
        assert decision.records[0].topic == TOPICS.events
        assert {r.topic for r in decision.records[1:]} <= {"dedupe"}
    elif decision.outcome == "dead_letter":
        assert decision.code in Code._value2member_map_
        assert [r.topic for r in decision.records] == [TOPICS.dlq]
    else:
        assert decision.outcome == "duplicate" and decision.records == []
    return decision


def exercise(raw: bytes, key: bytes | None = b"k") -> Decision:
    """One input through every stage, on fresh state; the same input again."""
    stage = validation_stage()
    first = decide(stage, raw, key)
    assert first.outcome in ("canonical", "dead_letter")
    again = decide(stage, raw, key, offset=1)
    if first.outcome == "canonical":
        assert again.outcome == "duplicate"
        output = first.records[0].value
        assert output is not None
        assert_fits_columns(output)
        step = LIVE.handle(live_state(), Consumed(TOPICS.events, 0, 0, first.records[0].key, output),
                           NOW_MS)
        assert step.kind == "event", step  # the contract's output is never refused downstream
        assert_step_fits(step)
    else:
        assert (again.outcome, again.code) == ("dead_letter", first.code)
    return first


def encode(obj: Any, ascii_only: bool = True) -> bytes:
    """JSON as any client might write it: NaN/Infinity literals, integers of any size,
    lone surrogates (escaped, or as the bytes no UTF-8 decoder accepts)."""
    text = json.dumps(obj, ensure_ascii=ascii_only, allow_nan=True, default=str)
    return text.encode("utf-8", "surrogatepass")


# -- the whole corpus, in order, through one validation stage and one live state ----------

def test_simulated_traffic_goes_through_every_stage_and_replays_as_duplicates() -> None:
    stage, state = validation_stage(), live_state()
    outcomes: dict[str, int] = {}
    live_offset = 0
    for offset, raw in enumerate(CORPUS):
        decision = decide(stage, raw, offset=offset)
        outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
        if decision.outcome == "canonical":
            output = decision.records[0].value or b""
            assert_fits_columns(output)
            step = LIVE.handle(state, Consumed(TOPICS.events, 0, live_offset, b"u", output), NOW_MS)
            live_offset += 1
            assert step.kind == "event"
            assert_step_fits(step)
    assert_step_fits(LIVE.tick(state, NOW_MS + DAY_MS, housekeeping=True))
    assert outcomes["canonical"] > 40 and outcomes["dead_letter"] > 5
    replay = [decide(stage, raw, offset=len(CORPUS) + i).outcome for i, raw in enumerate(CORPUS)]
    assert "canonical" not in replay


# -- byte-level mutations --------------------------------------------------------------------

@FUZZ
@given(st.sampled_from(CORPUS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)),
                                         min_size=1, max_size=8))
def test_byte_flips(raw: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(raw)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    exercise(bytes(data))


@FUZZ
@given(st.sampled_from(CORPUS), st.integers(0, 10**6))
def test_truncation(raw: bytes, cut: int) -> None:
    exercise(raw[: cut % (len(raw) + 1)])


@FUZZ
@given(st.sampled_from(CORPUS), st.integers(0, 10**6), st.binary(min_size=1, max_size=16))
def test_inserted_bytes(raw: bytes, position: int, inserted: bytes) -> None:
    at = position % (len(raw) + 1)
    exercise(raw[:at] + inserted + raw[at:])


# -- JSON-level mutations --------------------------------------------------------------------

def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every node below the top (keys and indexes)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def replace_at(obj: dict[str, Any], path: tuple[Any, ...], make: Callable[[Any], Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    parent: Any = out
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = make(parent[path[-1]])
    return out


def swap_type(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)  # numbers as strings
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return len(value)
        return number if math.isfinite(number) else value
    if isinstance(value, dict):
        return list(value.values())  # object -> list
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return "null"


def deep(levels: int, kind: str = "object") -> Callable[[Any], Any]:
    def make(value: Any) -> Any:
        for _ in range(levels):
            value = {"a": value} if kind == "object" else [value]
        return value
    return make


ODD_TEXT = [
    "", " ", "\u202eevil.exe", "\u200f\u05e9\u05dc\u05d5\u05dd", "🛒👟🏳️‍🌈", "e\u0301" * 50,
    "\u0000\u0001\u001f", "\ud800", "\udfff\ud800", "\ufeff", "Ω" * 2000, "\\\"", "1e309",
    "-0", "0x10", "NaN", "Infinity", "١٢٣", "²", "  42  ",
    # times UTC cannot hold or no column can; amounts whose exponent overflows arithmetic;
    # a tenant that would split the live state's keys
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00", "1850-01-01T00:00:00Z",
    "1e1000000", "-1E+999999", "1e-1000000", "a|b",
]

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
    | st.sampled_from(ODD_TEXT),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)

MUTATIONS: dict[str, Callable[[Any], Any]] = {
    "swap": swap_type,
    "nest 40": deep(40),
    "nest 40 lists": deep(40, "list"),
    "nest 300": deep(300),
    "huge": lambda value: "x" * 220_000,
    "nan": lambda value: math.nan,
    "infinity": lambda value: -math.inf,
    "big int": lambda value: 2**64 + 1,
    "drop": lambda value: None,
}


@FUZZ
@given(st.sampled_from(OBJECTS), st.data(), st.sampled_from(sorted(MUTATIONS)), st.booleans())
def test_a_node_mutated(obj: dict[str, Any], data: st.DataObject, mutation: str,
                        ascii_only: bool) -> None:
    path = data.draw(st.sampled_from(list(paths(obj))))
    exercise(encode(replace_at(obj, path, MUTATIONS[mutation]), ascii_only))


@FUZZ
@given(st.sampled_from(OBJECTS), st.data(), JSON_VALUES, st.booleans())
def test_a_node_replaced_with_any_json(obj: dict[str, Any], data: st.DataObject, value: Any,
                                       ascii_only: bool) -> None:
    path = data.draw(st.sampled_from(list(paths(obj))))
    exercise(encode(replace_at(obj, path, lambda _: value), ascii_only))


@FUZZ
@given(st.sampled_from(CORPUS), st.text(min_size=1, max_size=12) | st.sampled_from(
    ["type", "event", "userId", "messageId", "timestamp", "properties", "tenant", "price"]),
    JSON_VALUES, st.booleans())
def test_duplicate_keys(raw: bytes, key: str, value: Any, first: bool) -> None:
    if not raw.startswith(b"{") or not raw.endswith(b"}") or raw == b"{}":
        return
    member = encode({key: value})[1:-1]
    exercise(b"{" + member + b"," + raw[1:] if first else raw[:-1] + b"," + member + b"}")


# -- events generated from the contract's own vocabulary ------------------------------------

EDGE_NUMBERS = [0, -1, 1, 2**31 - 1, 2**31, 10**14 - 1, 10**14, 1e15, 0.1, 1e-5, -0.0,
                "19.9999", "0.00001", "9999999999999.99", "1E+3", " 7 ", "-3", "", "abc"]
# whole floats stay within 64 bits and amounts within 15 digits here: past that are the
# known bugs below (fields._to_int; amounts read back through a float)
SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
           | st.floats(-(2.0**62), 2.0**62, allow_nan=False) | st.sampled_from(EDGE_NUMBERS)
           | st.sampled_from(ODD_TEXT) | st.text(max_size=12))
LINE_FIELDS = ["product_id", "sku", "name", "brand", "category", "price", "quantity", "discount",
               "line_total", "coupon", "position", "stock", "currency", "value", "cart_id"]
ORDER_FIELDS = ["order_id", "cart_id", "checkout_id", "total", "subtotal", "revenue", "tax",
                "shipping", "discount", "currency", "coupon", "step", "query", "list_id",
                "rating", "url", "path", "referrer", "title", "search", "method"]
LINES = st.lists(st.dictionaries(st.sampled_from(LINE_FIELDS), SCALARS, max_size=8), max_size=4)
PROPERTIES = st.dictionaries(st.sampled_from(LINE_FIELDS + ORDER_FIELDS), SCALARS, max_size=10).flatmap(
    lambda props: st.one_of(st.just(props), LINES.map(lambda lines: {**props, "products": lines})))
ENVELOPES = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "identify", "screen"]),
     "event": st.sampled_from([*EventName, "Wishlist Shared", " Product Added ", ""]),
     "properties": PROPERTIES},
    optional={"userId": SCALARS, "anonymousId": SCALARS, "messageId": SCALARS,
              "timestamp": st.sampled_from(["2026-11-21T11:00:00Z", "2000-01-01T00:00:00Z",
                                            "1999-12-31T23:59:59Z", "2026-11-22T11:59:00Z",
                                            1795258800, 1795258800000, "2026-11-21", "x"]),
              "tenant": SCALARS, "traits": st.dictionaries(st.text(max_size=6), SCALARS, max_size=4),
              "context": st.fixed_dictionaries({}, optional={
                  "sessionId": SCALARS, "page": st.dictionaries(
                      st.sampled_from(["url", "path", "referrer", "title"]), SCALARS, max_size=3),
                  "campaign": st.dictionaries(st.sampled_from(["source", "medium", "name"]),
                                              SCALARS, max_size=3)})})


@FUZZ
@given(ENVELOPES, st.booleans())
def test_generated_events(event: dict[str, Any], ascii_only: bool) -> None:
    exercise(encode(event, ascii_only))


@FUZZ
@given(st.sampled_from([e for e in EventName]), st.data())
def test_generated_typed_events_are_often_accepted(name: EventName, data: st.DataObject) -> None:
    """Nearly valid events of every type, so the rows and the live stage see many kinds."""
    line = {"product_id": data.draw(st.sampled_from(["p1", "p" * 1024, "👟", " 42 "])),
            "price": data.draw(st.sampled_from(["19.99", 1, "0.0001", "9999999999999.99"])),
            "quantity": data.draw(st.sampled_from([1, 3, "2", 2**31 - 1]))}
    props = {**line, "cart_id": "c1", "order_id": "o1", "currency": "USD", "step": 1,
             "rating": 4, "query": "q", "coupon_id": "X", "promotion_id": "pr",
             "products": [line] * data.draw(st.integers(1, 3))}
    exercise(encode(track(str(name), props, messageId=None)))


# -- explicit hostile inputs -----------------------------------------------------------------

PRODUCT = {"product_id": "p1", "cart_id": "c1", "quantity": 1, "price": "9.99"}


def _with(**overrides: Any) -> bytes:
    return encode(track("Product Added", {**PRODUCT, **overrides}))


HOSTILE: dict[str, bytes] = {
    "properties 40 deep": encode(track("Wishlist Shared", deep(40)(1))),
    "properties 300 deep": encode(track("Wishlist Shared", deep(300)(1))),
    "context 300 deep": encode(track("Product Added", PRODUCT, context=deep(300)(1))),
    "extra field 300 deep": encode(track("Product Added", PRODUCT, extra=deep(300)(1))),
    "products line 300 deep": encode(track("Order Completed", order(products=[deep(300)(1)]))),
    "nested past the parser's limit": b'{"properties":' + b"[" * 2000 + b"]" * 2000 + b"}",
    "220 KB product_id": _with(product_id="p" * 220_000),
    "220 KB custom field": encode(track("Wishlist Shared", {"note": "n" * 220_000})),
    "NaN price": _with(price="__X__").replace(b'"__X__"', b"NaN"),
    "Infinity quantity": _with(quantity="__X__").replace(b'"__X__"', b"Infinity"),
    "-Infinity revenue": encode(track("Wishlist Shared", {"revenue": "__X__"})).replace(
        b'"__X__"', b"-Infinity"),
    "1e400 price": _with(price="__X__").replace(b'"__X__"', b"1e400"),
    "30-digit integer quantity": _with(quantity="__X__").replace(
        b'"__X__"', b"123456789012345678901234567890"),
    "duplicate price, the last negative": _with()[:-2] + b',"price":-1}}',
    "duplicate properties": _with()[:-1] + b',"properties":[1,2]}',
    "numbers as strings": _with(quantity="2", price="9.99", revenue="19.98"),
    "quantity as a superscript digit": _with(quantity="²"),
    "lone surrogate, escaped": _with(product_id="__X__").replace(b'"__X__"', b'"\\ud800"'),
    "surrogate as UTF-8 bytes": _with(product_id="__X__").replace(b"__X__", b"\xed\xa0\x80"),
    "right-to-left override id": _with(product_id="\u202etxt.exe"),
    "emoji ids": encode(track("Product Added", {**PRODUCT, "product_id": "👟" * 1024},
                             userId="🛒" * 1024)),
    "NUL in ids": _with(product_id="p\u00001"),
    "300 KB body of spaces": _with() + b" " * 300_000,
    "300 KB body of JSON": encode(track("Wishlist Shared", {"blob": "b" * 300_000})),
    "300 KB body, not UTF-8": b"\xff" * 300_000,
    "1 MB body": b"{" + b"x" * 1_000_000,
    "empty": b"",
    "not an object": b"[1,2,3]",
    "many top-level fields": encode({**track("Product Added", PRODUCT),
                                    **{f"k{i}": 1e15 for i in range(20_000)}}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input(name: str) -> None:
    exercise(HOSTILE[name])


@pytest.mark.parametrize("key", [None, b"", b"\xff\xfe", b"k" * 1_000_000, b"\x01" * 1_000_000])
def test_huge_and_odd_keys(key: bytes | None) -> None:
    assert exercise(_with(), key).outcome == "canonical"
    assert exercise(b"{oops", key).outcome == "dead_letter"


# -- found by fuzzing, fixed: each keeps its case ------------------------------------------

@pytest.mark.parametrize("body", [b"\x01" * 200_000, b'"' * 600_000], ids=["control", "quotes"])
def test_a_dead_letter_of_escaped_characters_fits(body: bytes) -> None:
    exercise(body)


def test_a_flat_event_with_a_deep_field_it_drops() -> None:
    exercise(b'{"category":"product","event_type":"view","user_id":"u1","product_id":"p1",'
             b'"junk":' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}")


def test_a_cart_with_many_long_lines_fits_the_state_changelog() -> None:
    stage, state = validation_stage(), live_state()
    for offset in range(500):
        line = {"product_id": f"{offset:05d}" + "p" * 1019, "name": "n" * 1024,
                "category": "c" * 1024, "cart_id": "c1", "quantity": 1, "price": "1.00"}
        decision = decide(stage, dumps(track("Product Added", line, messageId=f"m{offset}")),
                          offset=offset)
        assert decision.outcome == "canonical"
        output = decision.records[0].value or b""
        assert_step_fits(LIVE.handle(state, Consumed(TOPICS.events, 0, offset, b"u1", output),
                                     NOW_MS))


@pytest.mark.parametrize("lines", [
    [{"product_id": "p1", "price": "99999999999999", "quantity": 10}],
    [{"product_id": "p1", "price": "60000000000000"}, {"product_id": "p2", "price": "60000000000000"}],
    [{"product_id": "p1", "price": "1", "quantity": INT32_MAX},
     {"product_id": "p2", "price": "1", "quantity": INT32_MAX}],
], ids=["line total", "sum of lines", "sum of quantities"])
def test_what_the_rows_derive_from_the_lines_fits_or_is_refused(lines: list[dict[str, Any]]) -> None:
    body = {"order_id": "o1", "currency": "USD", "products": lines}
    decision = exercise(dumps(track("Order Completed", body)))
    assert (decision.outcome, decision.code) == ("dead_letter", "value_out_of_range")


@pytest.mark.parametrize("event, props", [
    ("Checkout Step Completed", {"step": 1e20}),
    ("Checkout Step Completed", {"step": "99999999999999999999"}),
    ("Product Viewed", {"product_id": "p1", "position": 1e300}),
    ("Product Viewed", {"product_id": "p1", "stock": 2e19}),
], ids=["step float", "step digits", "position", "stock"])
def test_a_huge_whole_number_in_an_integer_field(event: str, props: dict[str, Any]) -> None:
    assert exercise(encode(track(event, props))).code == "value_out_of_range"


@pytest.mark.parametrize("price", ["99999999999999.9999", "1234567890123.4567"])
def test_an_amount_of_over_15_digits_is_refused(price: str) -> None:
    decision = exercise(encode(track("Product Viewed", {"product_id": "p1", "price": price})))
    assert (decision.outcome, decision.code) == ("dead_letter", "precision_exceeded")


@pytest.mark.parametrize("price", ["99999999999999", "12345678901.2345", "0.0001"])
def test_an_amount_of_15_digits_reaches_the_rows_unrounded(price: str) -> None:
    decision = exercise(encode(track("Product Viewed", {"product_id": "p1", "price": price})))
    assert decision.outcome == "canonical"
    assert rows_for(decision.records[0].value or b"")[0][EVENT_COLUMNS.index("price")] == Decimal(price)
