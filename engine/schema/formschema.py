"""JSON Schema (Draft 2020-12) of a ticket type's field data, and validation with human messages.

This is the one validation path the API and the generated forms share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import fastjsonschema
import jsonschema

from .conditions import Cond, to_json_schema
from .kinds.ticket_type import Field, option_values
from .model import label_text

__all__ = ["FieldError", "FieldValidator", "field_schema", "human_errors", "type_schema"]

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^\+?[0-9][0-9 ()-]{4,19}$"
URL = r"^https?://[^\s]+$"
USERNAME = r"^[A-Za-z0-9_.@-]{1,64}$"
DATE = r"^\d{4}-\d{2}-\d{2}$"
DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"

_TEXT_LIMITS = {"text": 500, "textarea": 20000}


def field_schema(f: Field, teams: Sequence[str], org_units: Sequence[str]) -> dict[str, Any]:
    """The JSON Schema of one field's value."""
    s: dict[str, Any] = {}
    t = f.type
    if t in ("text", "textarea"):
        s = {"type": "string", "maxLength": f.max_length or _TEXT_LIMITS[t]}
        if f.min_length is not None:
            s["minLength"] = f.min_length
        if f.pattern is not None:
            s["pattern"] = f.pattern
    elif t == "integer":
        s = {"type": "integer"}
    elif t in ("decimal", "money"):
        s = {"type": "number"}
    elif t == "boolean":
        s = {"type": "boolean"}
    elif t == "date":
        s = {"type": "string", "format": "date", "pattern": DATE}
    elif t == "datetime":
        s = {"type": "string", "format": "date-time", "pattern": DATETIME}
    elif t == "select":
        s = {"type": "string", "enum": list(option_values(f) or ())}
    elif t == "multiselect":
        s = {"type": "array", "items": {"enum": list(option_values(f) or ())}, "uniqueItems": True}
    elif t == "email":
        s = {"type": "string", "format": "email", "pattern": EMAIL, "maxLength": 254}
    elif t == "phone":
        s = {"type": "string", "pattern": PHONE}
    elif t == "url":
        s = {"type": "string", "format": "uri", "pattern": URL, "maxLength": 2000}
    elif t == "user":
        s = {"type": "string", "pattern": USERNAME}
    elif t == "team":
        s = {"type": "string", "enum": list(teams)}
    elif t == "org_unit":
        s = {"type": "string", "enum": list(org_units)}
    elif t == "attachment":
        s = {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": f.max_files or 10}
    if t in ("integer", "decimal", "money"):
        if f.min is not None:
            s["minimum"] = f.min
        if f.max is not None:
            s["maximum"] = f.max
    if f.label is not None:
        s["title"] = label_text(f.label, "en", f.id)
    if f.help is not None:
        s["description"] = label_text(f.help, "en")
    if f.default is not None:
        s["default"] = f.default
    return s


def type_schema(
    name: str,
    label: str,
    fields: Sequence[Field],
    conds: Mapping[str, tuple[Cond | None, Cond | None]],
    known: Mapping[str, Any],
    teams: Sequence[str],
    org_units: Sequence[str],
    extra_required: Sequence[str] = (),
) -> dict[str, Any]:
    """Schema of a type's field data in one context (``known``: type, state and priority).

    ``conds`` maps a field id to its parsed (visible_when, required_when).
    """
    required: list[str] = []
    clauses: list[dict[str, Any]] = []
    for f in fields:
        visible_c, required_c = conds.get(f.id, (None, None))
        visible: dict[str, Any] | bool = True if visible_c is None else to_json_schema(visible_c, known)
        needed: dict[str, Any] | bool
        if f.id in extra_required or f.required:
            needed = True
        elif required_c is not None:
            needed = to_json_schema(required_c, known)
        else:
            needed = False
        if f.id in extra_required:
            visible = True
        if visible is False or needed is False:
            continue
        if visible is True and needed is True:
            required.append(f.id)
            continue
        parts = [p for p in (visible, needed) if p is not True]
        cond = parts[0] if len(parts) == 1 else {"allOf": parts}
        clauses.append({"if": cond, "then": {"required": [f.id]}})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": label,
        "$comment": f"field data of ticket type '{name}'",
        "type": "object",
        "properties": {f.id: field_schema(f, teams, org_units) for f in fields},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if clauses:
        schema["allOf"] = clauses
    return schema


class FieldError(tuple[str, str]):
    """(field path, message): one problem with submitted field data."""

    __slots__ = ()

    def __new__(cls, field: str, message: str) -> FieldError:
        return super().__new__(cls, (field, message))

    @property
    def field(self) -> str:
        return self[0]

    @property
    def message(self) -> str:
        return self[1]


_FORMAT_WORDS = {EMAIL: "must be an e-mail address", PHONE: "must be a phone number", URL: "must be a web address",
                 USERNAME: "must be a username", DATE: "must be a date (YYYY-MM-DD)",
                 DATETIME: "must be a date and time (YYYY-MM-DDTHH:MM)"}
_TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "array": "a list", "object": "a mapping"}


def human_errors(errors: Any, prefix: str = "fields") -> list[FieldError]:
    """Turn jsonschema errors into (path, message) pairs, descending into if/then clauses."""
    out: list[FieldError] = []
    for e in errors:
        path = ".".join([prefix, *(str(p) for p in e.absolute_path)])
        v = e.validator
        if v == "required":
            inst = e.instance if isinstance(e.instance, dict) else {}
            for key in e.validator_value:
                if key not in inst:
                    out.append(FieldError(f"{path}.{key}", "is required"))
        elif v == "additionalProperties":
            allowed = set(e.schema.get("properties", {}))
            for key in e.instance:
                if key not in allowed:
                    out.append(FieldError(f"{path}.{key}", "is not a field of this ticket type"))
        elif v == "type":
            want = e.validator_value if isinstance(e.validator_value, str) else e.validator_value[0]
            out.append(FieldError(path, f"must be {_TYPE_WORDS.get(want, want)}"))
        elif v == "enum":
            shown = ", ".join(str(x) for x in e.validator_value[:20])
            out.append(FieldError(path, f"must be one of: {shown}"))
        elif v == "pattern":
            out.append(FieldError(path, _FORMAT_WORDS.get(e.validator_value, "does not have the required format")))
        elif v == "maxLength":
            out.append(FieldError(path, f"must be at most {e.validator_value} characters"))
        elif v == "minLength":
            out.append(FieldError(path, f"must be at least {e.validator_value} characters"))
        elif v in ("minimum", "maximum"):
            word = "at least" if v == "minimum" else "at most"
            out.append(FieldError(path, f"must be {word} {e.validator_value:g}"))
        elif v == "maxItems":
            out.append(FieldError(path, f"may hold at most {e.validator_value} items"))
        elif v == "uniqueItems":
            out.append(FieldError(path, "must not repeat a value"))
        elif v in ("allOf", "anyOf", "oneOf") and e.context:
            out.extend(human_errors(e.context, prefix))
        else:
            out.append(FieldError(path, e.message))
    return sorted(set(out))


class FieldValidator:
    """Checks field data against one schema: every problem, in the words of :func:`human_errors`.

    Most data is valid, and proving that is the hot path of every create and every step: the
    schema is also compiled to Python code (fastjsonschema, ~2 µs a ticket instead of ~40 µs).
    The compiled check only ever answers "valid" or "look closer": formats are not checked and
    its patterns end at ``\\Z``, so it accepts no data that jsonschema rejects (a test compares
    the two on generated data). Whenever it objects, or fails in any way, jsonschema decides and
    words every error.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.full = jsonschema.Draft202012Validator(dict(schema))
        self.fast: Callable[[Any], Any] = fastjsonschema.compile(
            dict(schema), use_default=False, use_formats=False)

    def errors(self, data: Mapping[str, Any]) -> list[FieldError]:
        """Every problem with ``data`` as (path, message); empty when it is valid."""
        value = dict(data)
        try:
            self.fast(value)
        except Exception:  # invalid, or something only the full check may accept
            return human_errors(self.full.iter_errors(value))
        return []
