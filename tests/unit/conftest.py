from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from models.validation import Rules, ValidationResult, validate_obj

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def order(**overrides: Any) -> dict[str, Any]:
    props = {
        "order_id": "o-1",
        "currency": "USD",
        "subtotal": "39.98",
        "tax": "3.20",
        "shipping": "4.99",
        "discount": "2.00",
        "total": "46.17",
        "products": [
            {"product_id": "p1", "price": "19.99", "quantity": 2, "line_total": "39.98"},
        ],
    }
    props.update(overrides)
    return props


def track(event: str, properties: dict[str, Any] | None = None, **envelope: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "track",
        "event": event,
        "userId": "u1",
        "messageId": "m1",
        "timestamp": "2026-11-21T11:00:00Z",
        "properties": properties or {},
    }
    body.update(envelope)
    return body


@pytest.fixture
def check():
    def _check(obj: Any, rules: Rules | None = None, now: datetime = NOW) -> ValidationResult:
        return validate_obj(obj, rules or Rules(), now)

    return _check


def codes(result: ValidationResult) -> list[tuple[str, str]]:
    return [(str(i.code), i.path) for i in result.issues]
