"""The envelope validated straight into its canonical dict, for the validation stage.

:class:`models.envelope.Envelope` defines the contract; what the stages write is its
canonical dict (``event_to_dict``: fields that are None left out, Decimals and datetimes
kept). Building the model and then dumping it costs about 10 us an event, of which the
model instances (the envelope and its nested context, page, campaign and library) and
their dump are more than a third. :func:`canonical_validator` derives, from the model's
own validation schema, a validator whose output is that dict itself: each model becomes a
typed dict with the same fields, types, validators, aliases and extras; a field whose
default is None is left out when absent, and a None sent or given by a validator is
dropped, as ``exclude_none`` does; a default model becomes its dump (``Context()`` ->
``{}``); the envelope's rules across fields run on the dict
(:func:`models.envelope.check_identity_and_name`). No rule is written twice: a change to
the model changes this validator with it.

It is a fast path, not a second contract: :mod:`models.validation` takes its answer only
for an event it accepts, and asks the model about any event it refuses, so the issues (codes,
paths, messages) are the model's. ``tests/unit/models/test_canonical.py`` checks that the
two agree on what they accept and on the dict they give, over simulated traffic and
generated envelopes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import CoreSchema, SchemaValidator
from pydantic_core import core_schema as cs

# a model's validators (mode="after": the function the model calls with itself) -> the same
# rule as a function of the fields by name, checked on the typed dict of that model
CrossFieldRules = Mapping[Any, Callable[[Mapping[str, Any]], None]]


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    """What ``exclude_none`` leaves of a model's fields and extras."""
    if None in values.values():
        return {key: value for key, value in values.items() if value is not None}
    return values


def _checked(rule: Callable[[Mapping[str, Any]], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def check(values: dict[str, Any]) -> dict[str, Any]:
        rule(values)
        return values
    return check


def _default_dump(default: Any) -> Any:
    if isinstance(default, BaseModel):
        return type(default).__pydantic_serializer__.to_python(default, exclude_none=True)
    return default


def _field(schema: Any, rules: CrossFieldRules) -> cs.TypedDictField:
    """A model's field as a typed dict's: the same type and validators; a default of None
    becomes "left out when absent", any other default its dump (a fresh one each time)."""
    if schema["type"] != "model-field":
        raise TypeError(f"a model field's schema is {schema['type']!r}, not model-field")
    if schema.get("serialization_alias") or schema.get("serialization_exclude"):
        raise TypeError("a field dumped under another name, or left out of the dump, is not "
                        "supported: the dict would not be the model's dump")
    inner = schema["schema"]
    required = True
    if inner["type"] == "default":
        if "default" not in inner:
            raise TypeError("default factories are not supported")
        default = _default_dump(inner["default"])
        required = False
        if default is None:
            inner = _derived(inner["schema"], rules)
        elif isinstance(default, dict | list):
            if default:
                raise TypeError("only empty dicts and lists are supported as defaults")
            inner = cs.with_default_schema(_derived(inner["schema"], rules),
                                           default_factory=type(default))
        else:
            inner = cs.with_default_schema(_derived(inner["schema"], rules), default=default)
    else:
        inner = _derived(inner, rules)
    extra: dict[str, Any] = {}
    if "validation_alias" in schema:
        extra["validation_alias"] = schema["validation_alias"]
    return cs.typed_dict_field(inner, required=required, **extra)


def _typed_dict(schema: Any, rules: CrossFieldRules) -> CoreSchema:
    fields_schema = schema["schema"]
    if fields_schema["type"] != "model-fields" or schema.get("root_model") or schema.get("custom_init"):
        raise TypeError(f"{schema['cls'].__name__}: only plain models are supported")
    if fields_schema.get("computed_fields") or fields_schema.get("extras_schema"):
        raise TypeError(f"{schema['cls'].__name__}: computed fields and typed extras are not supported")
    config: cs.CoreConfig = schema.get("config") or cs.CoreConfig()
    extra: Literal["allow", "forbid", "ignore"] = (
        fields_schema.get("extra_behavior") or config.get("extra_fields_behavior") or "ignore")
    fields = {name: _field(field, rules) for name, field in fields_schema["fields"].items()}
    typed = cs.typed_dict_schema(fields, extra_behavior=extra, config=config)
    return cs.no_info_after_validator_function(_without_none, typed)


def _wraps_model(schema: Any) -> bool:
    """Whether a validator function runs around a model (a model validator, or one of a
    field whose type is a model)."""
    while schema["type"].startswith("function-"):
        schema = schema.get("schema") or {"type": ""}
    return bool(schema["type"] == "model")


def _derived(schema: Any, rules: CrossFieldRules) -> Any:
    kind = schema["type"]
    if kind == "model":
        return _typed_dict(schema, rules)
    if kind.startswith("function-") and _wraps_model(schema):
        function = schema["function"]["function"]
        where = getattr(function, "__qualname__", repr(function))
        if kind != "function-after" or schema["function"]["type"] != "no-info":
            raise TypeError(f"{where}: only mode='after' model validators are supported")
        if function not in rules:
            raise TypeError(f"{where} is a model validator: pass its rule as a function "
                            "of the fields")
        return cs.no_info_after_validator_function(_checked(rules[function]),
                                                   _derived(schema["schema"], rules))
    if kind in ("definitions", "definition-ref"):
        raise TypeError("schemas with definitions (a model used twice, recursive models) are "
                        "not supported")
    if schema.get("serialization"):
        raise TypeError(f"a {kind} with a serialiser of its own is not supported: the dict "
                        "would not be the model's dump")
    derived = dict(schema)
    for key, value in schema.items():
        if isinstance(value, dict) and "type" in value:
            derived[key] = _derived(value, rules)
        elif isinstance(value, list) and any(isinstance(item, dict) and "type" in item
                                             for item in value):
            derived[key] = [_derived(item, rules) if isinstance(item, dict) and "type" in item
                            else item for item in value]
    return derived


def canonical_validator(model: type[BaseModel], rules: CrossFieldRules) -> SchemaValidator:
    """A validator of ``model``'s input whose output is ``model``'s canonical dict (what
    ``model.model_dump(exclude_none=True)`` gives of the model it validates); ``rules``: each
    model validator of ``model`` and of the models inside it -> the same rule as a function
    of the fields (run in the model's order). Raises TypeError for a schema it cannot derive
    (the tests build it)."""
    return SchemaValidator(_derived(model.__pydantic_core_schema__, rules))
