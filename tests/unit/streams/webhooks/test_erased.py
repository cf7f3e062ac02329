"""An erased person's triggers go nowhere after the erasure: not to an endpoint (a trigger
emitted before, still waiting or being retried, carries their contact traits), not back into
ClickHouse through the trigger and dead-letter sinks."""

from __future__ import annotations

import orjson

from sinks.privacy import names_erased, payload_names_erased
from sinks.trigger_rows import DEAD_LETTER_COLUMNS, DEAD_LETTERS, TRIGGERS
from streams.webhooks.delivery import Answer, DeliveryConfig, EndpointDelivery
from streams.webhooks.endpoints import Endpoint
from streams.webhooks.policy import RetryPolicy


def erased(tenant: str, ident: str | None) -> bool:
    return (tenant, ident) == ("t1", "hank")


class Message:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value

    def topic(self) -> str:
        return "shop.triggers.cart_abandoned"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7


def test_a_trigger_naming_an_erased_person_is_sent_to_no_endpoint():
    sent: list[bytes] = []
    committed: list[Message] = []
    delivery = EndpointDelivery(
        Endpoint("ep1", "http://127.0.0.1:1/hook", ("cart_abandoned",), "s3cret", 0),
        DeliveryConfig("127.0.0.1:1", "g", ["shop.triggers.cart_abandoned"], "dlq",
                       RetryPolicy(), 1.0),
        dead_letters=None,  # type: ignore[arg-type]  # (nothing is dead-lettered here)
        send=lambda url, body, headers, timeout: sent.append(body) or Answer(200, None, 0.0),
        erased=erased)
    delivery._commit = lambda message: committed.append(message) or True  # type: ignore[method-assign]
    trigger = {"trigger_id": "x1", "type": "cart_abandoned", "tenant": "t1",
               "traits": {"email": "hank@example.com"}}
    for who in ({"user_id": "hank"}, {"anonymous_id": "hank"}, {"user_id": "ivy"}):
        assert delivery._handle(Message(orjson.dumps({**trigger, **who})))  # type: ignore[arg-type]
    assert [orjson.loads(body)["user_id"] for body in sent] == ["ivy"]  # only the others
    assert len(committed) == 3  # and delivery moves past the erased ones
    delivery.consumer.close()


def test_the_sinks_leave_out_an_erased_persons_triggers_and_dead_letters():
    trigger_row = dict.fromkeys(TRIGGERS.columns, "")
    trigger_row.update(tenant="t1", user_id="hank")
    assert names_erased(TRIGGERS, erased)(tuple(trigger_row.values()))
    letter = dict.fromkeys(DEAD_LETTER_COLUMNS, "")
    letter.update(tenant="t1", payload='{"trigger_id": "x1", "user_id": "hank", "n": 1}')
    check = payload_names_erased(DEAD_LETTERS, erased)
    assert check(tuple(letter.values()))
    assert not check(tuple({**letter, "payload": '{"user_id": "ivy"}'}.values()))
    assert not check(tuple({**letter, "tenant": "t2"}.values()))  # another shop's hank
    assert not payload_names_erased(DEAD_LETTERS, erased, anyone=lambda: False)(
        tuple(letter.values()))  # nobody erased: rows are not looked at
