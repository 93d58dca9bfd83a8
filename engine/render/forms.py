"""Generated forms: a ticket type's fields as inputs, and a posted form back into field values.

The form is derived from the compiled type alone, so a field added in YAML appears after a
reload. :func:`widgets` turns fields into view models the templates draw (label, help,
placeholder, required marker, the input that fits the field type, the value typed so far and
the error next to it); :func:`parse_fields` turns the posted strings back into typed values for
the runtime, which validates them with the type's JSON Schema — the same path as the API.

Visibility follows ``visible_when`` evaluated on the values as they stand (the server decides,
so the rule lives in one place): HTMX re-renders the fields when a value changes, and without
JavaScript the form shows what applies to the values last submitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from engine.schema.catalog import Catalog, CompiledType
from engine.schema.conditions import evaluate, fields_of
from engine.schema.kinds.ticket_type import Field
from engine.schema.model import label_text

__all__ = [
    "FIELD_PREFIX",
    "FILE_PREFIX",
    "Widget",
    "field_errors",
    "ordered_fields",
    "parse_fields",
    "trigger_fields",
    "visible_values",
    "widgets",
]

FIELD_PREFIX = "f."
FILE_PREFIX = "file."
PRESENT = "_fields"  # the ids of the fields a form carries, so an unticked box reads as False

_INPUT = {
    "text": "text",
    "textarea": "textarea",
    "integer": "number",
    "decimal": "number",
    "money": "number",
    "date": "date",
    "datetime": "datetime-local",
    "boolean": "checkbox",
    "select": "select",
    "multiselect": "checkboxes",
    "email": "email",
    "phone": "tel",
    "url": "url",
    "user": "text",
    "team": "select",
    "org_unit": "select",
    "attachment": "file",
}


class FormData(Protocol):
    def getall(self, key: str, default: Any = ...) -> list[Any]: ...

    def get(self, key: str, default: Any = None) -> Any: ...


@dataclass
class Option:
    value: str
    label: str
    selected: bool


@dataclass
class Widget:
    """One field as the template draws it."""

    id: str
    type: str
    input: str
    label: str
    name: str
    help: str = ""
    placeholder: str = ""
    required: bool = False
    conditional: bool = False
    value: str = ""
    checked: bool = False
    options: list[Option] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    error: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)  # attachments already in the field
    sensitive: bool = False
    visible: bool = True
    trigger: bool = False  # other fields' visibility or requirement depends on this one


def _options(catalog: Catalog, ctype: CompiledType, f: Field, lang: str) -> list[tuple[str, str]]:
    if f.type == "team":
        return [(t, label_text(catalog.teams[t].label, lang, t) if t in catalog.teams else t) for t in ctype.teams]
    if f.type == "org_unit":
        return [(u, catalog.org.label(u, lang)) for u in ctype.org_units]
    out = []
    for o in f.options or ():
        if isinstance(o, str):
            out.append((o, o))
        else:
            out.append((o.value, label_text(o.label, lang, o.value)))
    return out


def _shown(value: Any, f: Field) -> str:
    """A stored value as the input shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    if f.type == "datetime" and isinstance(value, str):
        return value.replace(" ", "T")[:16]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _attrs(f: Field, capture: bool) -> dict[str, str]:
    a: dict[str, str] = {}
    if f.type == "integer":
        a.update(step="1", inputmode="numeric")
    elif f.type in ("decimal", "money"):
        a.update(step="0.01" if f.type == "money" else "any", inputmode="decimal")
    if f.min is not None:
        a["min"] = f"{f.min:g}"
    if f.max is not None:
        a["max"] = f"{f.max:g}"
    if f.type in ("text", "textarea") and f.max_length is not None:
        a["maxlength"] = str(f.max_length)
    if f.type == "attachment":
        accept = f.accept or []
        if accept:
            a["accept"] = ",".join(accept)
        if (f.max_files or 10) > 1:
            a["multiple"] = "multiple"
        if capture and accept and all(x.startswith("image/") for x in accept):
            a["capture"] = "environment"  # phones open the camera
    if f.type == "phone":
        a["autocomplete"] = "tel"
    if f.type == "email":
        a["autocomplete"] = "email"
    return a


def widgets(
    catalog: Catalog,
    ctype: CompiledType,
    lang: str,
    values: Mapping[str, Any],
    *,
    state: str,
    priority: str,
    only: Iterable[str] | None = None,
    require: Sequence[str] = (),
    errors: Mapping[str, str] | None = None,
    files: Mapping[str, list[dict[str, Any]]] | None = None,
    capture: bool = True,
    include_hidden: bool = False,
) -> list[Widget]:
    """The fields (all, or ``only`` those) with ``values`` filled in, in the type's layout order.

    Fields whose ``visible_when`` does not hold are left out, or with ``include_hidden`` kept
    with ``visible=False`` so a page can hold their place and reveal them later.
    """
    context = {**values, "type": ctype.name, "state": state, "priority": priority}
    wanted = None if only is None else set(only)
    triggers = trigger_fields(ctype)
    out: list[Widget] = []
    for f in ordered_fields(ctype):
        if wanted is not None and f.id not in wanted:
            continue
        visible_c, required_c = ctype.conditions.get(f.id, (None, None))
        visible = visible_c is None or evaluate(visible_c, context)
        if not visible and not include_hidden:
            continue
        required = f.id in require or (f.required and required_c is None) or (
            required_c is not None and evaluate(required_c, context)
        )
        value = values.get(f.id)
        chosen = {str(v) for v in value} if isinstance(value, list) else {_shown(value, f)}
        w = Widget(
            id=f.id,
            type=f.type,
            input=_INPUT[f.type],
            label=label_text(f.label, lang, f.id),
            name=FIELD_PREFIX + f.id,
            help=label_text(f.help, lang),
            placeholder=label_text(f.placeholder, lang),
            required=required,
            conditional=visible_c is not None,
            value="" if isinstance(value, list) else _shown(value, f),
            checked=value is True,
            options=[Option(v, lab, v in chosen) for v, lab in _options(catalog, ctype, f, lang)],
            attrs=_attrs(f, capture),
            error=(errors or {}).get(f.id, ""),
            files=list((files or {}).get(f.id, [])),
            sensitive=f.sensitive,
            visible=visible,
            trigger=f.id in triggers,
        )
        out.append(w)
    return out


def trigger_fields(ctype: CompiledType) -> frozenset[str]:
    """Fields (and ``priority``) that some field's ``visible_when`` or ``required_when`` reads."""
    out: set[str] = set()
    for visible_c, required_c in ctype.conditions.values():
        for cond in (visible_c, required_c):
            if cond is not None:
                out |= fields_of(cond)
    return frozenset(out)


def visible_values(ctype: CompiledType, values: Mapping[str, Any], *, state: str, priority: str) -> dict[str, Any]:
    """The values of the fields shown for these values; a hidden field's leftover input is dropped."""
    context = {**values, "type": ctype.name, "state": state, "priority": priority}
    return {k: v for k, v in values.items() if k not in ctype.fields or ctype.visible(k, context)}


def ordered_fields(ctype: CompiledType) -> list[Field]:
    """The type's fields in the order of its layout sections, then any not placed in a section."""
    if not ctype.spec.layout:
        return list(ctype.spec.fields)
    placed = [ctype.fields[i] for s in ctype.spec.layout for i in s.fields if i in ctype.fields]
    seen = {f.id for f in placed}
    return placed + [f for f in ctype.spec.fields if f.id not in seen]


def _number(text: str, integer: bool) -> int | float | None:
    cleaned = text.replace(",", "").replace("，", "").replace(" ", "")
    try:
        return int(cleaned) if integer else float(cleaned)
    except ValueError:
        return None


def _valid_date(text: str, with_time: bool) -> bool:
    try:
        (datetime if with_time else date).fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_fields(
    ctype: CompiledType, form: FormData, gettext: Callable[[str], str] = lambda s: s
) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed values of the fields a posted form carries, and the fields it could not read.

    Only fields listed in the form's ``_fields`` are read. An empty input gives None (the field
    is left empty or cleared); an attachment field gives the ids kept in the form — uploads in
    ``file.<id>`` are stored by the caller, which appends their ids.
    """
    present = [p for p in form.getall(PRESENT, []) if isinstance(p, str) and p in ctype.fields]
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for fid in dict.fromkeys(present):
        f = ctype.fields[fid]
        raw = [v for v in form.getall(FIELD_PREFIX + fid, []) if isinstance(v, str)]
        text = raw[-1].strip() if raw else ""
        if f.type == "boolean":
            values[fid] = text in ("true", "on", "1", "yes")
        elif f.type in ("multiselect", "attachment"):
            items = [v for v in (x.strip() for x in raw) if v]
            values[fid] = list(dict.fromkeys(items)) or None
        elif not text:
            values[fid] = None
        elif f.type in ("integer", "decimal", "money"):
            number = _number(text, f.type == "integer")
            if number is None:
                problems[fid] = gettext("enter a whole number") if f.type == "integer" else gettext("enter a number")
                values[fid] = None
            else:
                values[fid] = number
        elif f.type in ("date", "datetime") and not _valid_date(text, f.type == "datetime"):
            problems[fid] = gettext("enter a date as YYYY-MM-DD") if f.type == "date" else gettext(
                "enter a date and time"
            )
            values[fid] = None
        else:
            values[fid] = raw[-1] if f.type == "textarea" else text
    return values, problems


def field_errors(errors: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Runtime errors split into those next to a field (by field id) and the rest (shown on top).

    ``fields.order_no`` and ``fields.items.2`` go to their field; ``title``, ``priority`` and
    ``comment`` keep their own names; the first message per field wins.
    """
    by_field: dict[str, str] = {}
    general: list[str] = []
    for path, message in errors:
        parts = path.split(".")
        if parts[0] == "fields" and len(parts) > 1:
            by_field.setdefault(parts[1], message)
        elif parts[0] in ("title", "priority", "comment", "org_unit", "assignee", "team", "decision"):
            by_field.setdefault(parts[0], message)
        else:
            general.append(f"{path}: {message}" if path else message)
    return by_field, general
