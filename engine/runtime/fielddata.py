"""Submitted field data made ready for validation: cleaned, merged, defaulted, diffed.

The rules on values themselves (types, patterns, required, visible_when) live in the type's JSON
Schema and are checked by ``CompiledType.validate``; this module only prepares the data and says
which fields may change in which state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.schema import CompiledType, FieldError
from engine.schema.model import PRIORITIES

__all__ = [
    "changes",
    "clean",
    "editable",
    "editable_errors",
    "fill_defaults",
    "is_empty",
    "merge",
    "priority_errors",
    "title_errors",
]

# Single-line inputs whose surrounding blanks are never meant: "  MO-0042 " is "MO-0042".
_STRIPPED = frozenset({"text", "email", "phone", "url", "user", "date", "datetime"})


def is_empty(value: Any) -> bool:
    """Values that mean "not filled": None, blank text, an empty list or mapping."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == [] or value == {}


def clean(ctype: CompiledType, submitted: Mapping[str, Any]) -> dict[str, Any]:
    """Strip single-line text and turn every empty value into None (which means "clear")."""
    out: dict[str, Any] = {}
    for key, value in submitted.items():
        f = ctype.fields.get(key)
        if isinstance(value, str) and f is not None and f.type in _STRIPPED:
            value = value.strip()
        out[key] = None if is_empty(value) else value
    return out


def merge(existing: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, Any]:
    """Existing data with the cleaned submission over it; a None clears the field."""
    out = dict(existing)
    for key, value in submitted.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def fill_defaults(ctype: CompiledType, data: Mapping[str, Any], state: str, priority: str) -> dict[str, Any]:
    """Fill the default of every field left empty that is shown in ``state``."""
    out = dict(data)
    values = {**out, "type": ctype.name, "state": state, "priority": priority}
    for f in ctype.spec.fields:
        if f.default is not None and f.id not in out and ctype.visible(f.id, values):
            out[f.id] = f.default
    return out


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every field whose value differs, as {field: {before, after}}, in a stable order."""
    keys = sorted(set(before) | set(after))
    return {k: {"before": before.get(k), "after": after.get(k)}
            for k in keys if before.get(k) != after.get(k)}


def editable(ctype: CompiledType, field_id: str, state: str) -> bool:
    """Whether a field may change after creation in ``state``: its ``editable_in``, else any open state."""
    f = ctype.fields.get(field_id)
    if f is None:
        return False
    if f.editable_in is not None:
        return state in f.editable_in
    return not ctype.flow.is_closing(state)


def editable_errors(ctype: CompiledType, fields: Mapping[str, Any], state: str) -> list[FieldError]:
    """A problem for every submitted field that may not be changed in ``state``."""
    out: list[FieldError] = []
    for key in fields:
        if key not in ctype.fields:
            out.append(FieldError(f"fields.{key}", "is not a field of this ticket type"))
        elif not editable(ctype, key, state):
            out.append(FieldError(f"fields.{key}", f"cannot be changed in state '{state}'"))
    return out


def title_errors(ctype: CompiledType, title: str) -> list[FieldError]:
    """Problems with an already stripped title."""
    limit = ctype.spec.title.max_length if ctype.spec.title is not None else 200
    if not title:
        return [FieldError("title", "is required")]
    if len(title) > limit:
        return [FieldError("title", f"must be at most {limit} characters")]
    return []


def priority_errors(priority: str) -> list[FieldError]:
    if priority not in PRIORITIES:
        return [FieldError("priority", f"must be one of: {', '.join(PRIORITIES)}")]
    return []
