"""Validation: raw bytes or a decoded object in, a canonical event or issues out.

Pure functions: the current time and the rules are passed in, so the same input
gives the same answer in the worker, in ``shopstream validate`` and in tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator

from models.canonical import canonical_validator
from models.durations import spell
from models.ecommerce import EVENT_PROPERTIES, PROPERTY_RULES, PageProps, Props
from models.enrichment import with_enrichment
from models.envelope import EARLIEST_TIME, END_OF_TIME, ENVELOPE_RULES, Envelope
from models.errors import Code, Issue
from models.flat import DEFAULT_ALIASES, AliasTable, is_flat, to_contract_names
from models.limits import limit_issues, shape_issues, short_enough, small_enough
from models.privacy import PrivacyRules, protect
from models.times import to_utc_ms

_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1d1d0e-5f59-4c55-9c1a-2f7f1c0b5e11")
_TIME_FIELDS = {"timestamp", "sentAt", "receivedAt"}
# the property names the contract defines per event (models/privacy.py leaves them alone)
_TYPED: list[type[Props]] = [*EVENT_PROPERTIES.values(), PageProps]
_CONTRACT_FIELDS: dict[type[Props] | None, frozenset[str]] = {
    model: frozenset(model.model_fields) for model in _TYPED}
_ENVELOPE = Envelope.__pydantic_validator__  # Envelope.model_validate less its wrapper
# each model straight to its canonical dict (models/canonical.py): an accepted event's
_CANONICAL = canonical_validator(Envelope, ENVELOPE_RULES)
_CANONICAL_PROPERTIES: dict[type[BaseModel], SchemaValidator] = {
    model: canonical_validator(model, PROPERTY_RULES) for model in _TYPED}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # event time starts here (0 means "none yet" downstream)


@dataclass(frozen=True, slots=True)
class Rules:
    """What validation needs from the settings."""

    default_tenant: str = "default"
    max_future_skew: timedelta = timedelta(days=1)
    max_event_bytes: int = 256 * 1024
    aliases: AliasTable = DEFAULT_ALIASES  # other names of events and fields (models/flat.py)
    enrich: bool = False  # device, bot, place and source class into context.enrichment
    geo_database: str = ""  # places from this MaxMind database; "": geoip2fast's shipped data
    privacy: PrivacyRules | None = None  # IP and personal keys (models/privacy.py); None: as sent


class ValidationResult:
    """An accepted event's canonical dict (what the stages write: ``event_to_dict`` of its
    envelope), or the issues of a refused one. The dict may share nested values (a
    property's list, an extra's object) with the object validated: read it, or copy before
    changing either."""

    __slots__ = ("_event", "canonical", "issues")

    def __init__(self, canonical: dict[str, Any] | None, issues: tuple[Issue, ...] = ()) -> None:
        self.canonical, self.issues = canonical, issues
        self._event: Envelope | None = None

    @property
    def ok(self) -> bool:
        return self.canonical is not None

    @property
    def event(self) -> Envelope | None:
        """The accepted event as its model, made on first use from the canonical dict (which
        the envelope accepts as it is: extras sent as null are left out, as in the dict);
        None for a refused one."""
        if self._event is None and self.canonical is not None:
            self._event = _ENVELOPE.validate_python(self.canonical)
        return self._event

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValidationResult):
            return NotImplemented
        return (self.canonical, self.issues) == (other.canonical, other.issues)

    __hash__ = None  # type: ignore[assignment]  # a dict inside: not hashable

    def __repr__(self) -> str:
        return f"ValidationResult(canonical={self.canonical!r}, issues={self.issues!r})"


def _canonical(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``model``'s canonical dict of ``data`` (its dump without None fields); for data it
    refuses, the model's own ValidationError, whose errors are the contract's issues."""
    fast = _CANONICAL if model is Envelope else _CANONICAL_PROPERTIES[model]
    try:
        return fast.validate_python(data)
    except ValidationError:  # validated again by the model: its errors, or (never seen) its dump
        typed = model.__pydantic_validator__.validate_python(data)
        dumped: dict[str, Any] = model.__pydantic_serializer__.to_python(typed, exclude_none=True)
        return dumped


def _code_for(error_type: str, loc: tuple[Any, ...]) -> str:
    if error_type in Code._value2member_map_:
        return error_type
    if error_type == "missing":
        return Code.FIELD_REQUIRED
    if loc and loc[0] in _TIME_FIELDS and len(loc) == 1:
        return Code.TIMESTAMP_INVALID
    if error_type == "literal_error" and loc == ("type",):
        return Code.TYPE_UNKNOWN
    if error_type.endswith("_type") or error_type.endswith("_parsing"):
        return Code.TYPE_INVALID
    return Code.VALUE_INVALID


def _issues_from(error: ValidationError, prefix: str = "") -> list[Issue]:
    issues = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = ".".join(str(part) for part in loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        issues.append(Issue(_code_for(item["type"], loc), path, item["msg"]))
    return issues


def _properties_model(data: dict[str, Any]) -> type[Props] | None:
    if data.get("type") == "page":
        return PageProps
    if data.get("type") == "track" and isinstance(data.get("event"), str):
        return EVENT_PROPERTIES.get(data["event"])  # (stripped by then)
    return None


def message_id_for(obj: dict[str, Any]) -> str:
    """A deterministic id for an event sent without one: identical resends share it."""
    digest_input = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)
    return str(uuid.uuid5(_MESSAGE_ID_NAMESPACE, digest_input.decode()))


def dedupe_id(tenant: str, message_id: str, default_tenant: str) -> str:
    """The id duplicates are found by (the validation stage's dedupe memory, ``ingest``). A
    messageId is unique within its tenant: two shops sending the same id (or the same
    content, whose derived ids match) are not duplicates of each other. The default
    tenant's ids are kept as they are, as they were before tenants had ids of their own, so
    that a dedupe changelog written then still serves; the others are
    ``<tenant>\\x00<messageId>`` (NUL is in no tenant name: ``models/fields.py``), and so is a
    default tenant's id that holds a NUL, which could otherwise pass for another tenant's."""
    if tenant == default_tenant and "\x00" not in message_id:
        return message_id
    return f"{tenant}\x00{message_id}"


def validate_obj(obj: Any, rules: Rules, now: datetime, shape_checked: bool = False,
                 received: datetime | None = None, texts_checked: bool = False) -> ValidationResult:
    """Validate one decoded event (Segment-style or flat) as of ``now`` (aware UTC).
    ``shape_checked``: its bytes already rule out the depth and size limits;
    ``texts_checked``: and the length limits of texts. ``received``:
    when it reached shopstream (the ``receivedAt`` of an event without one; default ``now``).
    Never raises:
    an event the checks themselves fail on is refused as ``check_failed`` (with the error),
    so one event cannot stop a stage."""
    try:
        return _validate_obj(obj, rules, now, shape_checked, received or now, texts_checked)
    except (MemoryError, OSError):
        raise  # the machine, not the event (a reader's file, memory): the stage retries it
    except Exception as exc:  # noqa: BLE001 - a bug in a check must not stop the stream
        return ValidationResult(None, (Issue(
            Code.CHECK_FAILED, "", f"the contract's checks failed on this event "
            f"({type(exc).__name__}: {str(exc)[:200]}); please report it"),))


def _validate_obj(obj: Any, rules: Rules, now: datetime, shape_checked: bool,
                  received: datetime, texts_checked: bool) -> ValidationResult:
    if not isinstance(obj, dict):
        return ValidationResult(
            None, (Issue(Code.NOT_OBJECT, "", f"an event is a JSON object, not {type(obj).__name__}"),)
        )
    flat = is_flat(obj)
    # first: the steps below serialise what they are given (the original too, for its id)
    too_big = shape_issues(obj) if flat and not shape_checked else []
    data = to_contract_names(obj, rules.aliases)
    # a flat event's name is made of its fields, an alias file may name long events: the
    # lengths of texts are known only for a Segment-style event read with the default names
    texts_checked = texts_checked and not flat and rules.aliases is DEFAULT_ALIASES
    too_big = too_big or limit_issues(data, shape_checked, texts_checked)
    if too_big:
        return ValidationResult(None, tuple(too_big))
    event_name = data.get("event")
    if data.get("type") == "track" and isinstance(event_name, str):
        data["event"] = event_name.strip()  # stored as it is looked up: " Order Completed "
    data.setdefault("tenant", rules.default_tenant)
    if data.get("messageId") is None:
        data["messageId"] = message_id_for(obj)
    if data.get("receivedAt") is None:
        data["receivedAt"] = received
    if data.get("timestamp") is None:
        data["timestamp"] = data.get("originalTimestamp") or data["receivedAt"]

    if rules.enrich:
        data["context"] = with_enrichment(data, rules.geo_database)

    issues: list[Issue] = []
    props_model = _properties_model(data)
    props_in = data.get("properties")
    if props_model is not None and isinstance(props_in, dict):
        try:
            data["properties"] = _canonical(props_model, props_in)
        except ValidationError as exc:
            issues.extend(_issues_from(exc, "properties"))

    if rules.privacy is not None:  # after enrichment: the place comes from the full address
        protect(data, rules.privacy, _CONTRACT_FIELDS.get(props_model, frozenset()))
    try:
        canonical = _canonical(Envelope, data)
    except ValidationError as exc:
        issues[:0] = _issues_from(exc)
        return ValidationResult(None, tuple(issues))
    if issues:
        return ValidationResult(None, tuple(issues))

    received_at, timestamp = canonical.get("receivedAt"), canonical["timestamp"]
    if received_at is not None and not EARLIEST_TIME <= received_at < END_OF_TIME:
        return ValidationResult(None, (Issue(
            Code.TIMESTAMP_INVALID, "receivedAt", f"receivedAt {received_at.isoformat()} "
            f"is out of range ({EARLIEST_TIME.year}-{END_OF_TIME.year - 1})"),))
    if timestamp < EARLIEST:
        return ValidationResult(None, (Issue(
            Code.TIMESTAMP_INVALID, "timestamp",
            f"timestamp {timestamp.isoformat()} is before {EARLIEST.isoformat()}"),))
    limit = to_utc_ms(now) + rules.max_future_skew
    if timestamp > limit:
        return ValidationResult(
            None,
            (
                Issue(
                    Code.TIMESTAMP_IN_FUTURE,
                    "timestamp",
                    f"timestamp {timestamp.isoformat()} is more than "
                    f"{spell(rules.max_future_skew.total_seconds() * 1000)} ahead of "
                    f"{now.isoformat()}",
                ),
            ),
        )
    return ValidationResult(canonical)


def parse_bytes(raw: bytes, rules: Rules) -> tuple[Any, Issue | None]:
    """Decode one event's bytes into a JSON value, or say why that is impossible."""
    if len(raw) > rules.max_event_bytes:
        return None, Issue(
            Code.TOO_LARGE, "", f"event is {len(raw)} bytes, the limit is {rules.max_event_bytes}"
        )
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return None, Issue(Code.ENCODING_INVALID, "", f"not UTF-8: {uexc.reason} at byte {uexc.start}")
        return None, Issue(Code.JSON_INVALID, "", f"malformed JSON: {exc}")


def validate_bytes(raw: bytes, rules: Rules, now: datetime,
                   received: datetime | None = None) -> ValidationResult:
    """Validate one event's raw bytes: framing first, then the contract."""
    obj, problem = parse_bytes(raw, rules)
    if problem is not None:
        return ValidationResult(None, (problem,))
    return validate_obj(obj, rules, now, shape_checked=small_enough(raw), received=received,
                        texts_checked=short_enough(raw))


def validate_line(line: bytes, too_long: bool, rules: Rules, now: datetime) -> ValidationResult:
    """Validate one input line (see ``streams.sources.lines.read_lines``); a line cut off for being
    over the size limit is ``too_large`` without being looked at."""
    if too_long:
        return ValidationResult(None, (Issue(
            Code.TOO_LARGE, "", f"line is over the {rules.max_event_bytes}-byte limit"),))
    return validate_bytes(line, rules, now)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the contract: the envelope plus each event's properties."""
    defs: dict[str, Any] = {}
    events: dict[str, str] = {}
    models: dict[str, type[BaseModel]] = {"Envelope": Envelope, "PageProperties": PageProps}
    for name, model in EVENT_PROPERTIES.items():
        models.setdefault(model.__name__, model)
        events[name] = model.__name__
    for title, schema_model in models.items():
        schema = schema_model.model_json_schema(mode="validation")
        # the models inside (Context, Product, ...) next to the others: the references
        # ("#/$defs/Context") point at the document's root, where a validator looks for them
        for name, nested in schema.pop("$defs", {}).items():
            if defs.setdefault(name, nested) != nested:
                raise ValueError(f"two different models are named {name} in the contract")
        defs[title] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "shopstream event contract",
        "description": "A Segment-style envelope; properties typed by event name "
        "(see x-event-properties). Other event names are custom events with free properties.",
        "$ref": "#/$defs/Envelope",
        "$defs": defs,
        "x-event-properties": events,
    }
