"""The README's cart_abandoned example (**Trigger contract**) is what shopstream writes: its
cart sent as events through the contract and the live stage, serialised as the stage
publishes it, gives the same fields with the same spelling (``25.5``, ``10.0``: amounts are
JSON numbers with the digits the live stage holds, not a fixed two decimals)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from models.serde import event_to_json
from models.settings import load_settings
from models.times import parse_iso_ms
from models.validation import validate_bytes
from streams.live.events import live_event
from streams.live.state import LiveConfig, PartitionState
from streams.stages.live import trigger_bytes
from streams.stages.validation import rules_from
from tests.support import REPO

NUMBER = re.compile(rb'"(\w+)": ?(-?\d[\d.eE+-]*)')


def readme_example() -> bytes:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Trigger contract"):text.index("### Webhooks")]
    block = section[section.index("```json\n") + 8:]
    return block[:block.index("```")].replace(", ...]", "]").encode()


def event(n: int, at: str, body: dict[str, Any]) -> bytes:
    return orjson.dumps({"messageId": f"m{n}", "timestamp": at, **body})


def added(n: int, at: str, product: str, quantity: int, price: str) -> bytes:
    props = (f'{{"product_id": "{product}", "name": "Product {product}", '
             f'"category": "shoes.running", "quantity": {quantity}, "price": {price}, '
             '"cart_id": "c-alice", "currency": "USD"}')
    return event(n, at, {"type": "track", "event": "Product Added", "userId": "alice",
                         "context": {"sessionId": "s-alice"}, "properties": orjson.loads(props)})


def written_trigger(emitted_at: str) -> bytes:
    """The cart of the example through the contract and the live stage, as published."""
    rules = rules_from(load_settings())
    now = datetime(2026, 3, 1, 11, tzinfo=UTC)
    state = PartitionState(LiveConfig())
    raws = [added(1, "2026-03-01T10:00:00.000Z", "p1", 2, "10.00"),  # a shop's usual spelling
            added(2, "2026-03-01T10:02:00.000Z", "p2", 1, '"5.50"'),  # or as text
            event(3, "2026-03-01T10:32:00.000Z", {"type": "page", "userId": "bob",
                                                    "context": {"sessionId": "s-bob"}})]
    triggers = []
    for raw in raws:
        result = validate_bytes(raw, rules, now)
        assert result.event is not None, result
        canonical = orjson.loads(event_to_json(result.event))  # as read off shop.events
        triggers += state.apply(live_event(canonical), parse_iso_ms(emitted_at)).triggers
    [trigger] = triggers
    return trigger_bytes(trigger)


def test_the_readme_trigger_example_is_what_shopstream_writes():
    example = readme_example()
    shown = orjson.loads(example)
    written = written_trigger(shown["emitted_at"])
    sent = orjson.loads(written)
    assert sent["items"][:1] == shown["items"] and len(sent["items"]) == 2
    assert {**sent, "items": None} == {**shown, "items": None}
    # each number spelt as it is sent (JSON parsing alone would take 25.50 for 25.5)
    spelt = dict(NUMBER.findall(example))
    assert spelt == {key: value for key, value in reversed(NUMBER.findall(written))
                     if key in spelt}, written.decode()
