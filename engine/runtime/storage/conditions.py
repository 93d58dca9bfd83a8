"""Conditions of the definition language as SQL on ``tickets``, with the same meaning as in Python.

:func:`engine.schema.conditions.evaluate` decides a condition on one ticket in memory; a report
filters a million tickets, so its ``where`` runs in the database instead. Every atom here is
two-valued (never NULL), exactly like ``evaluate``: a missing value equals nothing, differs from
everything, is in no list, compares false with ``gt``/``lt``, and is empty.

Field values are read from the JSON column with their JSON type checked: a string field
compares only strings, a number field only numbers, a boolean only true/false — a value of the
wrong type counts as missing, on both engines alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.schema.conditions import All, AnyOf, Atom, Cond, FieldFacts, Not

__all__ = ["COLUMNS", "condition_sql", "field_value_sql"]

# Pseudo-fields a report condition may test, and the tickets column each one reads.
COLUMNS = {"type": "type", "state": "state", "state_category": "state_category", "priority": "priority",
           "team": "team", "org_unit": "org_unit"}
_NUMERIC = ("integer", "decimal", "money")
SQL = tuple[str, list[Any]]


def field_value_sql(field: str, field_type: str, postgres: bool) -> str:
    """A field's value from ``tickets.fields``: text, a number, or 'true'/'false'; NULL when absent or mistyped."""
    if postgres:
        raw = f"tickets.fields -> '{field}'"
        if field_type in _NUMERIC:
            return f"(CASE jsonb_typeof({raw}) WHEN 'number' THEN (tickets.fields ->> '{field}')::numeric END)"
        if field_type == "boolean":
            return f"(CASE jsonb_typeof({raw}) WHEN 'boolean' THEN tickets.fields ->> '{field}' END)"
        return f"(CASE jsonb_typeof({raw}) WHEN 'string' THEN tickets.fields ->> '{field}' END)"
    path = f"'$.{field}'"
    kind = f"json_type(tickets.fields, {path})"
    value = f"json_extract(tickets.fields, {path})"
    if field_type in _NUMERIC:
        return f"(CASE {kind} WHEN 'integer' THEN {value} WHEN 'real' THEN {value} END)"
    if field_type == "boolean":
        return f"(CASE {kind} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END)"
    return f"(CASE {kind} WHEN 'text' THEN {value} END)"


def _array(field: str, postgres: bool) -> str:
    """The field's JSON array, or an empty one."""
    if postgres:
        raw = f"tickets.fields -> '{field}'"
        return f"(CASE jsonb_typeof({raw}) WHEN 'array' THEN {raw} ELSE '[]'::jsonb END)"
    path = f"'$.{field}'"
    value = f"json_extract(tickets.fields, {path})"
    return f"(CASE json_type(tickets.fields, {path}) WHEN 'array' THEN {value} ELSE '[]' END)"


def _empty(field: str, postgres: bool) -> str:
    if field in COLUMNS:
        return f"(tickets.{COLUMNS[field]} IS NULL OR tickets.{COLUMNS[field]} = '')"
    if postgres:
        # jsonb_build_object(): '{}' would read as a placeholder
        return (f"(coalesce(tickets.fields -> '{field}', 'null'::jsonb) IN "
                "('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, jsonb_build_object()))")
    path = f"'$.{field}'"
    kind, value = f"json_type(tickets.fields, {path})", f"json_extract(tickets.fields, {path})"
    return (f"(coalesce({kind}, 'null') = 'null' OR ({kind} = 'text' AND {value} = '') "
            f"OR ({kind} IN ('array', 'object') AND {value} IN ('[]', json_object())))")


def _value(value: Any) -> Any:
    """Booleans are compared as the text 'true'/'false' that both engines give for JSON booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _placeholder(facts: FieldFacts | None, postgres: bool) -> str:
    if postgres and facts is not None and facts.type in _NUMERIC:
        return "{}::numeric"
    return "{}"


def _atom(atom: Atom, facts: Mapping[str, FieldFacts], postgres: bool) -> SQL:
    f = facts.get(atom.field)
    op, value = atom.op, atom.value
    if op == "empty":
        sql = _empty(atom.field, postgres)
        return (sql, []) if value else (f"NOT {sql}", [])
    if f is not None and f.type == "multiselect":
        if op != "contains":
            # evaluate() compares the list itself: it equals no single value and is in no list
            return ("TRUE", []) if op in ("ne", "not_in") else ("FALSE", [])
        if postgres:
            return f"({_array(atom.field, True)} @> jsonb_build_array({{}}::text))", [str(value)]
        return (f"EXISTS (SELECT 1 FROM json_each({_array(atom.field, False)}) AS c "
                "WHERE c.type = 'text' AND c.value = {})", [str(value)])
    if op == "contains":
        return "FALSE", []  # evaluate(): only a list contains anything
    x = f"tickets.{COLUMNS[atom.field]}" if atom.field in COLUMNS else field_value_sql(
        atom.field, f.type if f is not None else "text", postgres)
    p = _placeholder(f, postgres)
    if op in ("eq", "ne"):
        if value is None:
            return f"({x} IS {'NOT ' if op == 'ne' else ''}NULL)", []
        if op == "eq":
            return f"({x} IS NOT NULL AND {x} = {p})", [_value(value)]
        return f"({x} IS NULL OR {x} <> {p})", [_value(value)]
    if op in ("in", "not_in"):
        values = [_value(v) for v in value if v is not None]
        has_none = any(v is None for v in value)
        inside = f"{x} IN ({', '.join([p] * len(values))})" if values else "FALSE"
        sql = f"({x} IS NULL OR ({x} IS NOT NULL AND {inside}))" if has_none else f"({x} IS NOT NULL AND {inside})"
        return (sql, values) if op == "in" else (f"NOT {sql}", values)
    sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
    if value is None:
        return "FALSE", []
    return f"({x} IS NOT NULL AND {x} {sign} {p})", [_value(value)]


def condition_sql(cond: Cond, facts: Mapping[str, FieldFacts], postgres: bool) -> SQL:
    """The condition as a SQL predicate on ``tickets`` (``{}`` placeholders) and its values."""
    if isinstance(cond, Atom):
        return _atom(cond, facts, postgres)
    if isinstance(cond, Not):
        inner, args = condition_sql(cond.item, facts, postgres)
        return f"(NOT {inner})", args
    parts = [condition_sql(c, facts, postgres) for c in cond.items]
    if not parts:
        return "TRUE", []
    joiner = " AND " if isinstance(cond, All) else " OR "
    assert isinstance(cond, All | AnyOf)
    return "(" + joiner.join(p[0] for p in parts) + ")", [a for p in parts for a in p[1]]

