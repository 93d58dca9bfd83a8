"""Conditions are data: parsed once, checked against the fields they name, evaluated without eval.

The same tree serves three uses: compile-time checks (unknown field, unknown option, operator that
does not fit), evaluation at run time, and translation into JSON Schema ``if``/``then`` clauses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .diagnostics import did_you_mean

__all__ = [
    "OPERATORS",
    "All",
    "AnyOf",
    "Atom",
    "Cond",
    "FieldFacts",
    "Not",
    "Problem",
    "check_condition",
    "evaluate",
    "fields_of",
    "implies",
    "parse_condition",
    "to_json_schema",
]

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "empty", "contains")
_ORDERED = ("gt", "ge", "lt", "le")


@dataclass(frozen=True)
class Atom:
    field: str
    op: str
    value: Any
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class All:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Not:
    item: Cond


Cond = Atom | All | AnyOf | Not


@dataclass(frozen=True)
class Problem:
    """A condition problem: diagnostic code, path inside the condition, message, hint."""

    code: str
    path: tuple[str | int, ...]
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class FieldFacts:
    """What a condition needs to know of a field: its type and the values it may take."""

    type: str
    options: tuple[Any, ...] | None = None


def parse_condition(raw: Any, path: tuple[str | int, ...] = ()) -> tuple[Cond, list[Problem]]:
    """Turn the YAML shape into a condition tree, collecting shape problems."""
    problems: list[Problem] = []

    def walk(node: Any, at: tuple[str | int, ...]) -> Cond:
        if not isinstance(node, dict) or not node:
            problems.append(
                Problem(
                    "E102",
                    at,
                    "a condition must be a non-empty mapping",
                    "write {field: value}, {field: {op: value}}, all: [...], any: [...] or not: {...}",
                )
            )
            return All(())
        parts: list[Cond] = []
        for key, value in node.items():
            here = (*at, key)
            if key in ("all", "any"):
                if not isinstance(value, list) or not value:
                    problems.append(Problem("E102", here, f"'{key}' takes a non-empty list of conditions"))
                    continue
                items = tuple(walk(v, (*here, i)) for i, v in enumerate(value))
                parts.append(All(items) if key == "all" else AnyOf(items))
            elif key == "not":
                parts.append(Not(walk(value, here)))
            elif not isinstance(key, str):
                problems.append(Problem("E102", here, f"condition key {key!r} must be a field id"))
            elif isinstance(value, dict):
                if not value:
                    problems.append(Problem("E102", here, f"no operator given for '{key}'"))
                for op, operand in value.items():
                    if op not in OPERATORS:
                        problems.append(
                            Problem(
                                "E104",
                                (*here, op),
                                f"unknown operator '{op}'",
                                did_you_mean(str(op), OPERATORS) or f"use one of: {', '.join(OPERATORS)}",
                            )
                        )
                        continue
                    if op in ("in", "not_in") and not isinstance(operand, list):
                        problems.append(Problem("E102", (*here, op), f"'{op}' takes a list of values"))
                        continue
                    if op == "empty" and not isinstance(operand, bool):
                        problems.append(Problem("E102", (*here, op), "'empty' takes true or false"))
                        continue
                    parts.append(Atom(key, op, operand, (*here, op)))
            elif isinstance(value, list):
                parts.append(Atom(key, "in", value, here))
            else:
                parts.append(Atom(key, "eq", value, here))
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    return walk(raw, path), problems


def atoms(cond: Cond) -> list[Atom]:
    if isinstance(cond, Atom):
        return [cond]
    if isinstance(cond, Not):
        return atoms(cond.item)
    return [a for item in cond.items for a in atoms(item)]


def fields_of(cond: Cond) -> set[str]:
    return {a.field for a in atoms(cond)}


_NUMERIC = {"integer", "decimal", "money"}
_TEXTUAL = {"text", "textarea", "email", "phone", "url", "user"}


def _value_fits(facts: FieldFacts, value: Any) -> bool:
    t = facts.type
    if value is None:
        return True
    if t in _NUMERIC:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def check_condition(cond: Cond, fields: Mapping[str, FieldFacts]) -> list[Problem]:
    """Check every field, operator and value a condition names against the known fields."""
    problems: list[Problem] = []
    for atom in atoms(cond):
        facts = fields.get(atom.field)
        if facts is None:
            problems.append(
                Problem(
                    "E202", atom.path, f"condition names unknown field '{atom.field}'", did_you_mean(atom.field, fields)
                )
            )
            continue
        if atom.op in _ORDERED and facts.type not in (*_NUMERIC, "date", "datetime"):
            problems.append(
                Problem(
                    "E205",
                    atom.path,
                    f"'{atom.op}' compares numbers or dates, but '{atom.field}' is a {facts.type} field",
                    "use eq, ne, in or not_in",
                )
            )
            continue
        if atom.op == "contains" and facts.type != "multiselect":
            problems.append(
                Problem(
                    "E205",
                    atom.path,
                    f"'contains' tests a multiselect field, but '{atom.field}' is a {facts.type} field",
                    "use eq or in",
                )
            )
            continue
        if atom.op == "empty":
            continue
        values = atom.value if atom.op in ("in", "not_in") else [atom.value]
        for v in values:
            if facts.options is not None:
                if v not in facts.options:
                    shown = ", ".join(str(o) for o in facts.options[:12])
                    problems.append(
                        Problem(
                            "E204",
                            atom.path,
                            f"'{v}' is not an option of '{atom.field}'",
                            did_you_mean(str(v), [str(o) for o in facts.options]) or f"options are: {shown}",
                        )
                    )
            elif not _value_fits(facts, v):
                problems.append(
                    Problem("E205", atom.path, f"value {v!r} does not fit '{atom.field}', a {facts.type} field")
                )
    return problems


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def evaluate(cond: Cond, values: Mapping[str, Any]) -> bool:
    """Evaluate a condition on a ticket's values (custom fields plus type, state, priority)."""
    if isinstance(cond, All):
        return all(evaluate(c, values) for c in cond.items)
    if isinstance(cond, AnyOf):
        return any(evaluate(c, values) for c in cond.items)
    if isinstance(cond, Not):
        return not evaluate(cond.item, values)
    value = values.get(cond.field)
    op = cond.op
    if op == "eq":
        return bool(value == cond.value)
    if op == "ne":
        return bool(value != cond.value)
    if op == "in":
        return value in cond.value
    if op == "not_in":
        return value not in cond.value
    if op == "empty":
        return _empty(value) is cond.value
    if op == "contains":
        return isinstance(value, list) and cond.value in value
    return _compare(op, value, cond.value)


def _atom_implies(b: Atom, a: Atom) -> bool:
    """Whether every value satisfying ``b`` also satisfies ``a`` (same field)."""
    if b.field != a.field:
        return False
    if (b.op, b.value) == (a.op, a.value):
        return True
    b_set: Sequence[Any] | None = [b.value] if b.op == "eq" else b.value if b.op == "in" else None
    if b_set is not None:
        if a.op in ("eq", "in"):
            allowed = [a.value] if a.op == "eq" else a.value
            return all(v in allowed for v in b_set)
        if a.op in ("ne", "not_in"):
            banned = [a.value] if a.op == "ne" else a.value
            return all(v not in banned for v in b_set)
        if a.op in _ORDERED:
            return all(_compare(a.op, v, a.value) for v in b_set)
        if a.op == "empty":
            return all(_empty(v) is a.value for v in b_set)
        return False
    if b.op in _ORDERED and a.op in _ORDERED:
        lower_b, lower_a = b.op in ("gt", "ge"), a.op in ("gt", "ge")
        if lower_b != lower_a:
            return False
        try:
            if lower_a:
                return bool(b.value > a.value or (b.value == a.value and (a.op == "ge" or b.op == "gt")))
            return bool(b.value < a.value or (b.value == a.value and (a.op == "le" or b.op == "lt")))
        except TypeError:
            return False
    return False


def _conjuncts(cond: Cond) -> list[Atom] | None:
    if isinstance(cond, Atom):
        return [cond]
    if isinstance(cond, All):
        out: list[Atom] = []
        for item in cond.items:
            part = _conjuncts(item)
            if part is None:
                return None
            out.extend(part)
        return out
    return None


def implies(b: Cond, a: Cond) -> bool:
    """Conservative test that condition ``b`` implies ``a``: true only when it surely does."""
    if b == a:
        return True
    a_atoms, b_atoms = _conjuncts(a), _conjuncts(b)
    if a_atoms is None or b_atoms is None:
        return False
    return all(any(_atom_implies(bb, aa) for bb in b_atoms) for aa in a_atoms)


def to_json_schema(cond: Cond, known: Mapping[str, Any]) -> dict[str, Any] | bool:
    """JSON Schema that a field-data object satisfies exactly when ``cond`` holds.

    ``known`` carries the values of pseudo-fields (type, state, priority) that are fixed in the
    context the schema is made for; atoms on them fold to ``true``/``false``.
    """
    if isinstance(cond, All):
        parts = [to_json_schema(c, known) for c in cond.items]
        if any(p is False for p in parts):
            return False
        rest: list[dict[str, Any] | bool] = [p for p in parts if p is not True]
        return True if not rest else rest[0] if len(rest) == 1 else {"allOf": rest}
    if isinstance(cond, AnyOf):
        parts = [to_json_schema(c, known) for c in cond.items]
        if any(p is True for p in parts):
            return True
        rest_any: list[dict[str, Any] | bool] = [p for p in parts if p is not False]
        rest = rest_any
        return False if not rest else rest[0] if len(rest) == 1 else {"anyOf": rest}
    if isinstance(cond, Not):
        inner = to_json_schema(cond.item, known)
        return (not inner) if isinstance(inner, bool) else {"not": inner}
    if cond.field in known:
        return evaluate(cond, known)
    f, op, v = cond.field, cond.op, cond.value

    def present(sub: dict[str, Any]) -> dict[str, Any]:
        return {"properties": {f: sub}, "required": [f]}

    if op == "eq":
        return present({"const": v})
    if op == "ne":
        return {"not": present({"const": v})}
    if op == "in":
        return present({"enum": list(v)})
    if op == "not_in":
        return {"not": present({"enum": list(v)})}
    if op == "contains":
        return present({"type": "array", "contains": {"const": v}})
    if op == "empty":
        is_empty: dict[str, Any] = {
            "anyOf": [{"not": {"required": [f]}}, {"properties": {f: {"enum": [None, "", [], {}]}}}]
        }
        return is_empty if v else {"not": is_empty}
    keyword = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}[op]
    if isinstance(v, str):  # dates compare as ISO text; JSON Schema has no ordering on strings
        return present({})
    return present({"type": "number", keyword: v})


def make_checker(fields: Mapping[str, FieldFacts]) -> Callable[[Any, tuple[str | int, ...]], list[Problem]]:
    """Parse and check a raw condition in one call."""

    def check(raw: Any, path: tuple[str | int, ...]) -> list[Problem]:
        cond, problems = parse_condition(raw, path)
        return problems or check_condition(cond, fields)

    return check
