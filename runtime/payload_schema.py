"""A schema_task's payload as JSON Schema: checked when a run is triggered, and read to find the payload's secrets.

A worker publishes each task's definition, with its payload's JSON Schema, to the task definitions table; a process
that triggers without importing the task (the CLI on another machine, the HTTP API) checks the payload against that
schema with `jsonschema`, so an invalid payload is refused before a run exists. A process that defines the task
validates with the pydantic model itself.

The published schema must never refuse what the model accepts: the worker's pydantic validation stays the final
word, the schema only catches what is wrong for certain. So it is generated and checked leniently: where a
before/wrap/plain validator transforms the input, anything is accepted there (the inner shape is kept beside it, for
readers and for finding secrets), and the conversions pydantic makes in lax mode ("5" for an integer, 0 for a date,
"yes" for a boolean, duplicates in a set) pass the type check. What remains refused for sure: missing required
fields, forbidden extra fields, values of the wrong kind, out-of-range numbers and lengths.

Error messages name fields and schema constraints only, never the refused value (it may be a password).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from functools import lru_cache
from typing import Any, Iterator

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError as SchemaValidationError
from jsonschema.exceptions import best_match
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from runtime.errors import PayloadError
from runtime.limits import field_path
from runtime.redaction import collect_secrets, redact_text

log = logging.getLogger("taskpack")
MAX_REPORTED_ERRORS = 10
_ANY_INPUT = "a validator transforms this field's input: anything is accepted here, the second shape is what it becomes"


# -- generating ----------------------------------------------------------------------------------------------------------
class LenientJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, widened where a validator function sees the raw input first."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        if self.mode == "validation" and schema.get("json_schema_input_schema"):
            return super().function_before_schema(schema)
        return {"anyOf": [{}, self.generate_inner(schema["schema"])], "$comment": _ANY_INPUT}

    def function_wrap_schema(self, schema: core_schema.WrapValidatorFunctionSchema) -> JsonSchemaValue:
        if self.mode == "validation" and schema.get("json_schema_input_schema"):
            return super().function_wrap_schema(schema)
        return {"anyOf": [{}, self.generate_inner(schema["schema"])], "$comment": _ANY_INPUT}

    def function_plain_schema(self, schema: core_schema.PlainValidatorFunctionSchema) -> JsonSchemaValue:
        if self.mode == "validation" and schema.get("json_schema_input_schema"):
            return super().function_plain_schema(schema)
        return {"$comment": _ANY_INPUT}


def json_schema_of(model: type[BaseModel]) -> dict[str, Any] | None:
    """The payload schema to publish, or None when pydantic cannot express the model (arbitrary types)."""
    try:
        return model.model_json_schema(mode="validation", schema_generator=LenientJsonSchema)
    except Exception as exc:  # PydanticInvalidForJsonSchema, PydanticUserError: the worker still validates
        log.warning("schema of %s cannot be published as JSON Schema: %s", model.__name__, exc)
        return None


# -- checking against the published schema ------------------------------------------------------------------------------
_BOOL_WORDS = frozenset({"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"})
_TIME_FORMATS = frozenset({"date-time", "date", "time", "duration"})


def _as_number(value: Any) -> float | None:
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _pydantic_converts(instance: Any, types: set[str], fmt: Any) -> bool:
    """True when pydantic's lax mode turns `instance` into one of `types` (so the schema must let it through)."""
    if types & {"integer", "number"} and not isinstance(instance, (dict, list)) and _as_number(instance) is not None:
        return "number" in types or float(_as_number(instance) or 0).is_integer()
    if "boolean" in types and (instance in (0, 1) or (isinstance(instance, str) and instance.strip().lower() in _BOOL_WORDS)):
        return True
    return "string" in types and fmt in _TIME_FORMATS and isinstance(instance, (int, float, str))


def _lenient_type(validator: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Iterator[SchemaValidationError]:
    wanted = {types} if isinstance(types, str) else set(types)
    if any(validator.is_type(instance, t) for t in wanted) or _pydantic_converts(instance, wanted, schema.get("format")):
        return
    yield SchemaValidationError(f"must be {' or '.join(sorted(wanted))}")


def _lenient_enum(validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]) -> Iterator[SchemaValidationError]:
    if any(_same(instance, choice) for choice in allowed):
        return
    yield SchemaValidationError("is not one of the allowed values")


def _lenient_const(validator: Any, const: Any, instance: Any, schema: dict[str, Any]) -> Iterator[SchemaValidationError]:
    if not _same(instance, const):
        yield SchemaValidationError("is not the allowed value")


def _same(instance: Any, choice: Any) -> bool:
    if instance == choice and type(instance) is type(choice):
        return True
    if isinstance(choice, (int, float)) and not isinstance(choice, bool):
        number = _as_number(instance)
        return number is not None and number == float(choice)
    return instance == choice and not isinstance(instance, bool) and not isinstance(choice, bool)


_LenientValidator = validators.extend(
    Draft202012Validator,
    {"type": _lenient_type, "enum": _lenient_enum, "const": _lenient_const, "uniqueItems": lambda *_: None},
)


@lru_cache(maxsize=64)
def _validator_for(schema_text: str) -> Any:
    schema = json.loads(schema_text)
    Draft202012Validator.check_schema(schema)
    return _LenientValidator(schema)


def check_against_schema(schema: dict[str, Any], payload: Any) -> None:
    """Raise a PayloadError naming every field the published schema refuses for certain."""
    try:
        validator = _validator_for(json.dumps(schema, sort_keys=True))
    except Exception as exc:  # a schema a worker could not have meant: let the worker's pydantic check decide
        log.warning("ignoring an unusable payload schema: %s", exc)
        return
    problems: list[dict[str, str]] = []
    for error in validator.iter_errors(payload):
        leaf = best_match([error])
        problems.extend(_describe(leaf))
        if len(problems) >= MAX_REPORTED_ERRORS:
            break
    if problems:
        raise _payload_error(problems, payload, SchemaView.of(schema))


def _describe(error: SchemaValidationError) -> list[dict[str, str]]:
    path = list(error.absolute_path)
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if keyword == "required" and isinstance(instance, dict):
        return [{"field": field_path("payload", [*path, name]), "message": "field required"} for name in expected if name not in instance]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extras = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return [{"field": field_path("payload", [*path, k]), "message": "extra field not permitted"} for k in extras]
    return [{"field": field_path("payload", path), "message": _constraint(keyword, expected, error.message)}]


def _constraint(keyword: Any, expected: Any, message: str) -> str:
    shown = json.dumps(expected, default=str)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return {
        "type": message,  # built by _lenient_type from the schema alone
        "enum": f"must be one of {shown}",
        "const": f"must be {shown}",
        "minimum": f"must be >= {shown}",
        "maximum": f"must be <= {shown}",
        "exclusiveMinimum": f"must be > {shown}",
        "exclusiveMaximum": f"must be < {shown}",
        "multipleOf": f"must be a multiple of {shown}",
        "minLength": f"must have at least {shown} characters",
        "maxLength": f"must have at most {shown} characters",
        "pattern": f"must match the pattern {shown}",
        "minItems": f"must have at least {shown} items",
        "maxItems": f"must have at most {shown} items",
        "minProperties": f"must have at least {shown} fields",
        "maxProperties": f"must have at most {shown} fields",
        "anyOf": "does not match any of the allowed shapes",
        "oneOf": "does not match exactly one of the allowed shapes",
        "not": "is not allowed",
        "additionalProperties": "extra field not permitted",
    }.get(str(keyword), f"does not satisfy '{keyword}'")


# -- checking with the task's own model -----------------------------------------------------------------------------------
def check_with_model(model: type[BaseModel], payload: Any, schema: dict[str, Any] | None) -> None:
    """Validate as the worker will; a PayloadError names each bad field and never echoes a value."""
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        problems = [
            {"field": field_path("payload", [p for p in err["loc"] if isinstance(p, (str, int))]), "message": err["msg"]}
            for err in exc.errors(include_input=False, include_url=False, include_context=False)[:MAX_REPORTED_ERRORS]
        ]
        raise _payload_error(problems, payload, SchemaView.of(schema) if schema else None) from None
    except Exception as exc:  # a validator that raised something pydantic does not wrap: say which, not what
        raise PayloadError(f"payload: the task's schema could not validate it ({type(exc).__name__})", field="payload") from None


def _payload_error(problems: list[dict[str, str]], payload: Any, view: "SchemaView | None") -> PayloadError:
    # A custom validator's message may quote the input: scrub the payload's own secrets from every message.
    secrets = collect_secrets(payload, view)
    for problem in problems:
        problem["message"] = redact_text(problem["message"], secrets)
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return PayloadError(f"invalid payload: {summary}", field=problems[0]["field"], errors=problems)


# -- finding secret fields ---------------------------------------------------------------------------------------------------
class SchemaView:
    """A place in a JSON Schema, as the set of subschemas that may describe the value there.

    Unions are kept whole (a field is secret when any branch types it so), `$ref`s resolved, and an unknown place is
    None: redaction then falls back to the field-name rules.
    """

    def __init__(self, resolver: Any, nodes: list[dict[str, Any]]) -> None:
        self._resolver = resolver
        self._nodes = nodes
        self._secret = any(n.get("writeOnly") is True or n.get("format") == "password" for n in nodes)
        self._children: dict[str | int, SchemaView | None] = {}  # views are shared: each step is worked out once

    @classmethod
    def of(cls, schema: dict[str, Any] | None) -> "SchemaView | None":
        """The view of a payload schema (a task definition's, or one published by workers; never changed in place).
        The same schema object is looked up by identity: encoding a big schema (introspect-data's credentials are a
        union of eight sources) to find its cached view took ~0.1-0.2 ms, at the trigger, the run's start and each
        read of the run."""
        if not isinstance(schema, dict):
            return None
        known = _views_by_identity.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        view = _view_of(json.dumps(schema, sort_keys=True))
        with _views_lock:
            if len(_views_by_identity) >= _VIEWS_BY_IDENTITY_MAX:
                _views_by_identity.pop(next(iter(_views_by_identity)), None)  # the oldest: dicts keep insertion order
            _views_by_identity[id(schema)] = (schema, view)  # held: its id cannot be reused while it is here
        return view

    @classmethod
    def _make(cls, resolver: Any, nodes: list[Any]) -> "SchemaView | None":
        expanded: list[dict[str, Any]] = []
        seen: set[int] = set()
        pending = [n for n in nodes if isinstance(n, dict)]
        while pending and len(expanded) < 256:
            node = pending.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            expanded.append(node)
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    pending.append(resolver.lookup(ref).contents)
                except Exception:
                    pass
            for keyword in ("anyOf", "oneOf", "allOf"):
                branches = node.get(keyword)
                if isinstance(branches, list):
                    pending.extend(b for b in branches if isinstance(b, dict))
        return cls(resolver, expanded) if expanded else None

    def is_secret(self) -> bool:
        return self._secret

    def child(self, key: str) -> "SchemaView | None":
        if key not in self._children:
            if len(self._children) >= 1024:  # keys are payload data: do not grow without bound
                return self._child(key)
            self._children[key] = self._child(key)
        return self._children[key]

    def _child(self, key: str) -> "SchemaView | None":
        found: list[Any] = []
        for node in self._nodes:
            properties = node.get("properties")
            if isinstance(properties, dict) and key in properties:
                found.append(properties[key])
                continue
            patterns = node.get("patternProperties")
            if isinstance(patterns, dict):
                found.extend(sub for pattern, sub in patterns.items() if _matches(pattern, key))
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                found.append(extra)
        return self._make(self._resolver, found) if found else None

    def item(self, index: int) -> "SchemaView | None":
        if not any(isinstance(n.get("prefixItems"), list) for n in self._nodes):
            index = -1  # every item has the same schema: one view for all
        if index >= 1024:  # past any tuple a schema spells out
            return None
        if index not in self._children:
            self._children[index] = self._item(max(index, 0))
        return self._children[index]

    def _item(self, index: int) -> "SchemaView | None":
        found: list[Any] = []
        for node in self._nodes:
            prefix = node.get("prefixItems")
            if isinstance(prefix, list) and index < len(prefix):
                found.append(prefix[index])
            elif isinstance(node.get("items"), dict):
                found.append(node["items"])
        return self._make(self._resolver, found) if found else None


_VIEWS_BY_IDENTITY_MAX = 64
_views_by_identity: dict[int, tuple[dict[str, Any], "SchemaView | None"]] = {}
_views_lock = threading.Lock()


@lru_cache(maxsize=64)
def _view_of(schema_text: str) -> SchemaView | None:
    schema = json.loads(schema_text)
    resolver = Registry().with_resource("urn:taskpack:payload", DRAFT202012.create_resource(schema)).resolver("urn:taskpack:payload")
    return SchemaView._make(resolver, [schema])


def _matches(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False
