"""The canonical-dict validator (models/canonical.py) against the envelope model it is derived
from: on everything either accepts, both accept, and the dict is the model's dump; the model
accepts the dict again as it is (``ValidationResult.event``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, PlainSerializer, ValidationError, model_validator

import models.validation as validation
from models.canonical import canonical_validator
from models.ecommerce import EVENT_PROPERTIES, PROPERTY_RULES, PageProps, Props
from models.envelope import ENVELOPE_RULES, Envelope
from models.serde import event_to_dict
from models.settings import load_settings
from streams.sources.simulator import SimConfig, simulate
from streams.stages.validation import rules_from
from tests.unit.conftest import NOW, order

CANONICAL = canonical_validator(Envelope, ENVELOPE_RULES)
PROPERTIES: list[type[Props]] = sorted({*EVENT_PROPERTIES.values(), PageProps}, key=repr)
CANONICAL_PROPERTIES = {model: canonical_validator(model, PROPERTY_RULES) for model in PROPERTIES}


def _model_dict(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return model.model_validate(data).model_dump(exclude_none=True)
    except ValidationError:
        return None


def _fast_dict(data: dict[str, Any], model: type[BaseModel] = Envelope) -> dict[str, Any] | None:
    validator = CANONICAL if model is Envelope else CANONICAL_PROPERTIES[model]  # type: ignore[index]
    try:
        return validator.validate_python(data)
    except ValidationError:
        return None


def _agree(data: dict[str, Any], model: type[BaseModel] = Envelope) -> dict[str, Any] | None:
    expected, got = _model_dict(model, data), _fast_dict(data, model)
    assert got == expected, f"input {data!r}: the model gives {expected!r}, the fast path {got!r}"
    if got is not None:  # key order too: the JSON written is the same bytes
        assert list(got) == list(expected or {})
        assert _model_dict(model, got) == got
    if model is Envelope and got is not None:
        assert event_to_dict(Envelope.model_validate(got)) == got
    return got


class _PropertiesRecorder:
    """Stands in for the contract's canonical validators of the typed properties."""

    def __init__(self) -> None:
        self.inputs: list[tuple[type[Props], dict[str, Any]]] = []

    def __getitem__(self, model: type[Props]) -> Any:
        recorder = self

        class _One:
            def validate_python(self, data: dict[str, Any]) -> dict[str, Any]:
                recorder.inputs.append((model, data))
                return CANONICAL_PROPERTIES[model].validate_python(data)
        return _One()


class _Recorder:
    """Stands in for the contract's canonical validator and keeps what it was given."""

    def __init__(self) -> None:
        self.inputs: list[dict[str, Any]] = []

    def validate_python(self, data: dict[str, Any]) -> dict[str, Any]:
        self.inputs.append(data)
        return CANONICAL.validate_python(data)


def test_simulated_traffic_gives_the_models_dicts(monkeypatch):
    """What the contract hands the envelope for every kind of simulated event (enrichment and
    privacy on, the simulator's malformed events too)."""
    recorder, properties = _Recorder(), _PropertiesRecorder()
    monkeypatch.setattr(validation, "_CANONICAL", recorder)
    monkeypatch.setattr(validation, "_CANONICAL_PROPERTIES", properties)
    rules = rules_from(load_settings())
    config = SimConfig(seed=7, malformed=0.05, duplicates=0.0, start=NOW - timedelta(hours=1))
    for event in simulate(config, 3000):
        validation.validate_bytes(event.to_bytes(), rules, NOW)
    accepted = [data for data in recorder.inputs if _agree(data) is not None]
    assert len(accepted) > 2500, f"only {len(accepted)} of {len(recorder.inputs)} accepted"
    assert any("enrichment" in data.get("context", {}) for data in accepted)
    typed = [model for model, data in properties.inputs if _agree(data, model) is not None]
    assert len(set(typed)) >= 10, f"only {sorted(set(map(repr, typed)))} seen"


def test_an_accepted_result_is_the_canonical_dict_and_its_model():
    result = validation.validate_obj({
        "type": "track", "event": " Order Completed ", "userId": " u1 ", "messageId": 42,
        "timestamp": "2026-11-21T11:00:00.123456+01:00", "sentAt": None, "extra": None,
        "context": {"session_id": "s1", "page": {"url": "https://a.example/", "title": None}},
        "properties": order()},
        validation.Rules(), NOW)
    assert result.ok and result.canonical is not None and result.event is not None
    assert result.canonical == event_to_dict(result.event)
    assert result.canonical["timestamp"] == datetime(2026, 11, 21, 10, 0, 0, 123000, tzinfo=UTC)
    assert result.canonical["context"] == {"page": {"url": "https://a.example/"},
                                           "sessionId": "s1"}
    assert (result.canonical["userId"], result.canonical["messageId"]) == ("u1", "42")
    assert result.canonical["properties"]["total"] == Decimal("46.17")  # typed: exact money
    assert "sentAt" not in result.canonical and "extra" not in result.canonical


def test_a_refused_event_keeps_the_models_issues():
    result = validation.validate_obj({"type": "track", "event": "x", "messageId": "m",
                                      "timestamp": "2026-11-21T11:00:00Z", "context": 5},
                                     validation.Rules(), NOW)
    assert not result.ok and result.event is None
    assert [(str(i.code), i.path) for i in result.issues] == [
        ("type_invalid", "context")]
    assert "instance of Context" in result.issues[0].message  # the model's own wording


_TEXT = st.sampled_from(["", " ", "a", " b ", "u-1", "shop.1", "bad tenant!", "Order Completed"])
_TIME = st.sampled_from([
    "2026-11-21T11:00:00Z", "2026-11-21T11:00:00.123456Z", "2026-11-21T12:00:00+01:00",
    "2026-11-21 11:00:00", "2026-11-21", "2026-02-30T00:00:00Z", "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00", "not a time", 1_763_722_800, 1_763_722_800_123, 1.5e9, -1,
    True, None, [], {}])
_VALUE = st.one_of(st.none(), _TEXT, st.integers(-3, 2**70), st.booleans(), st.floats(),
                   st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.sampled_from(["k", "x"]), st.one_of(st.none(), _TEXT),
                                   max_size=2))
_PAGE = st.one_of(_VALUE, st.fixed_dictionaries({}, optional={
    "url": st.one_of(st.none(), _TEXT), "title": st.one_of(st.none(), _TEXT, st.integers()),
    "extra": _VALUE}))
_CONTEXT = st.one_of(_VALUE, st.fixed_dictionaries({}, optional={
    "page": _PAGE, "campaign": _PAGE, "library": _PAGE, "userAgent": _VALUE, "ip": _VALUE,
    "locale": _VALUE, "sessionId": _VALUE, "session_id": _VALUE, "enrichment": _VALUE,
    "other": _VALUE}))
_ENVELOPE = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "identify", "alias", "group", "other", None])},
    optional={
        "event": _VALUE, "name": _VALUE, "userId": _VALUE, "anonymousId": _VALUE,
        "messageId": _VALUE, "tenant": _VALUE, "timestamp": _TIME, "sentAt": _TIME,
        "receivedAt": _TIME, "context": _CONTEXT, "properties": _VALUE, "traits": _VALUE,
        "previousId": _VALUE, "groupId": _VALUE, "custom": _VALUE, "other": _VALUE})


@settings(max_examples=600, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_ENVELOPE, st.booleans())
def test_any_envelope_either_path_gives_the_same(data, typical):
    if typical:  # most generated inputs are refused: also the fields most events have
        data.setdefault("userId", "u1")
        data.setdefault("messageId", "m1")
        data.setdefault("tenant", "shop")
        data.setdefault("timestamp", "2026-11-21T11:00:00Z")
        if data["type"] is None:
            data["type"] = "track"
    _agree(data)


_MONEY = st.sampled_from(["19.99", "0", "-1", "1e3", "abc", 19.99, 0, -2, 10**20, True, None,
                          "39.98", "46.17", "3.20", "4.99", "2.00", " 5 ", "NaN"])
_COUNT = st.sampled_from([1, 2, 0, -1, "3", " 4 ", 2.0, 2.5, True, None, "x", 2**64])
_PRODUCT = st.one_of(_VALUE, st.fixed_dictionaries(
    {"product_id": st.one_of(_TEXT, st.integers(0, 9), st.none())},
    optional={"price": _MONEY, "quantity": _COUNT, "discount": _MONEY, "line_total": _MONEY,
              "currency": st.sampled_from(["USD", "usd", None, 5]), "stock": _COUNT,
              "position": _COUNT, "name": _VALUE, "extra": _VALUE, "cart_id": _VALUE}))
_PROPERTIES = st.fixed_dictionaries({}, optional={
    "order_id": _VALUE, "checkout_id": _VALUE, "cart_id": _VALUE, "product_id": _VALUE,
    "products": st.one_of(_VALUE, st.lists(_PRODUCT, max_size=3)), "subtotal": _MONEY,
    "tax": _MONEY, "shipping": _MONEY, "discount": _MONEY, "total": _MONEY,
    "revenue": _MONEY, "price": _MONEY, "quantity": _COUNT, "line_total": _MONEY,
    "currency": st.sampled_from(["USD", "eur", None]), "query": _VALUE, "rating": _MONEY,
    "experiment_id": _VALUE, "variation_id": _VALUE, "step": _COUNT, "url": _VALUE,
    "custom": _VALUE})


@settings(max_examples=600, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PROPERTIES), _PROPERTIES)
def test_any_properties_either_path_gives_the_same(model, data):
    _agree(data, model)


@pytest.mark.parametrize(("model", "accepted", "refused"), [
    (EVENT_PROPERTIES["Product Viewed"],
     {"product_id": "p", "price": "10", "quantity": 2, "discount": "1", "line_total": "19"},
     {"product_id": "p", "price": "10", "quantity": 2, "discount": "1", "line_total": "20"}),
    (EVENT_PROPERTIES["Checkout Started"],
     {"subtotal": "10", "tax": "1", "shipping": "2", "discount": "3", "total": "10"},
     {"subtotal": "10", "tax": "1", "shipping": "2", "discount": "3", "total": "10.02"}),
    (EVENT_PROPERTIES["Order Completed"],
     {"order_id": "o", "products": [{"product_id": "p", "price": 5, "quantity": 1}]},
     {"order_id": "o", "products": []}),
    (EVENT_PROPERTIES["Order Completed"],
     {"order_id": "o", "subtotal": "5", "total": "5", "products": [{"product_id": "p"}]},
     {"order_id": "o", "subtotal": "5", "total": "6", "products": [{"product_id": "p"}]}),
    (EVENT_PROPERTIES["Order Completed"],
     {"order_id": "o", "products": [{"product_id": "p", "price": 5, "quantity": 2,
                                     "line_total": 10}]},
     {"order_id": "o", "products": [{"product_id": "p", "price": 5, "quantity": 2,
                                     "line_total": 11}]}),
    (Envelope,
     {"type": "group", "userId": "u", "groupId": "g", "messageId": "m", "tenant": "t",
      "timestamp": "2026-11-21T11:00:00Z"},
     {"type": "group", "userId": "u", "messageId": "m", "tenant": "t",
      "timestamp": "2026-11-21T11:00:00Z"}),
    (Envelope,
     {"type": "alias", "userId": "u", "previousId": "a", "messageId": "m", "tenant": "t",
      "timestamp": "2026-11-21T11:00:00Z"},
     {"type": "alias", "anonymousId": "u", "previousId": "a", "messageId": "m",
      "tenant": "t", "timestamp": "2026-11-21T11:00:00Z"}),
    (Envelope,
     {"type": "track", "event": "x", "anonymousId": "a", "messageId": "m", "tenant": "t",
      "timestamp": "2026-11-21T11:00:00Z"},
     {"type": "track", "event": "  ", "anonymousId": "a", "messageId": "m", "tenant": "t",
      "timestamp": "2026-11-21T11:00:00Z"}),
])
def test_each_rule_across_fields_holds_on_the_dict(model, accepted, refused):
    assert _agree(accepted, model) is not None
    assert _agree(refused, model) is None


def test_a_model_validator_must_be_given_as_rules():
    class Checked(BaseModel):
        a: int = 0

        @model_validator(mode="after")
        def _positive(self) -> Checked:
            return self

    with pytest.raises(TypeError, match="_positive is a model validator"):
        canonical_validator(Checked, {})


def test_a_model_whose_dump_differs_from_its_fields_is_refused():
    class Renamed(BaseModel):
        a: int = Field(0, serialization_alias="b")

    class Hidden(BaseModel):
        a: int = Field(0, exclude=True)

    class Serialised(BaseModel):
        a: Annotated[int, PlainSerializer(str)] = 0

    for model in (Renamed, Hidden, Serialised):
        with pytest.raises(TypeError, match="not be the model's dump"):
            canonical_validator(model, {})
