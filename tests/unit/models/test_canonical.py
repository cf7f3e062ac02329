"""The canonical-dict validator (models/canonical.py) against the envelope model it is derived
from: on everything either accepts, both accept, and the dict is the model's dump; the model
accepts the dict again as it is (``ValidationResult.event``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, model_validator

import models.validation as validation
from models.canonical import canonical_validator
from models.envelope import Envelope, check_identity_and_name
from models.serde import event_to_dict
from models.settings import load_settings
from streams.sources.simulator import SimConfig, simulate
from streams.stages.validation import rules_from
from tests.unit.conftest import NOW, order

CANONICAL = canonical_validator(Envelope, {Envelope: check_identity_and_name})


def _model_dict(data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return event_to_dict(Envelope.model_validate(data))
    except ValidationError:
        return None


def _fast_dict(data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return CANONICAL.validate_python(data)
    except ValidationError:
        return None


def _agree(data: dict[str, Any]) -> dict[str, Any] | None:
    expected, got = _model_dict(data), _fast_dict(data)
    assert got == expected, f"input {data!r}: the model gives {expected!r}, the fast path {got!r}"
    if got is not None:  # key order too: the JSON written is the same bytes
        assert list(got) == list(expected or {})
        assert event_to_dict(Envelope.model_validate(got)) == got
    return got


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
    recorder = _Recorder()
    monkeypatch.setattr(validation, "_CANONICAL", recorder)
    rules = rules_from(load_settings())
    config = SimConfig(seed=7, malformed=0.05, duplicates=0.0, start=NOW - timedelta(hours=1))
    for event in simulate(config, 3000):
        validation.validate_bytes(event.to_bytes(), rules, NOW)
    accepted = [data for data in recorder.inputs if _agree(data) is not None]
    assert len(accepted) > 2500, f"only {len(accepted)} of {len(recorder.inputs)} accepted"
    assert any("enrichment" in data.get("context", {}) for data in accepted)


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


def test_a_model_validator_must_be_given_as_rules():
    class Checked(BaseModel):
        a: int = 0

        @model_validator(mode="after")
        def _positive(self) -> Checked:
            return self

    with pytest.raises(TypeError, match="Checked has a model validator"):
        canonical_validator(Checked, {})
