"""The compiled fast check never accepts field data that jsonschema rejects, on every shipped schema."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from engine.schema import Catalog, check_definitions
from engine.schema.formschema import FieldValidator, human_errors

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    result = check_definitions(DEFINITIONS)
    assert result.catalog is not None
    return result.catalog


_STRINGS = ["", "x", "short text", "顾客投诉收银台排队时间过长", "a" * 600, "138 0013 8000", "+86 135 0000 1111",
            "not a phone", "someone@example.com", "2026-03-15", "2026-03-15T09:30:00+08:00", "2026-03-15 09:30",
            "13:99", "PR-0003", "ab-12", "IT-004512", "20260315000123", "12345", "ok\n", "0", "-5", "true"]
_NUMBERS: list[Any] = [0, 1, -1, 2.5, 5000, 5000.01, 1e9, True, False, 3.0, -0.5]


def _candidates(prop: dict[str, Any]) -> list[Any]:
    """Values of every JSON type, and the ones the property names itself."""
    out: list[Any] = [None, {}, {"a": 1}, *_NUMBERS, *_STRINGS]
    out += list(prop.get("enum", []))
    if "const" in prop:
        out.append(prop["const"])
    if prop.get("type") == "array":
        item = prop.get("items", {})
        pool = list(item.get("enum", [])) or ["att-1", "att-2", "", "x" * 40]
        out += [[], ["a"], [1], pool[:1], pool[:3], pool * 3, [pool[0], pool[0]]]
    if "minLength" in prop:
        out.append("y" * int(prop["minLength"]))
    if "maxLength" in prop:
        out += ["z" * int(prop["maxLength"]), "z" * (int(prop["maxLength"]) + 1)]
    return out


def _good(prop: dict[str, Any], rng: random.Random) -> Any:
    """A value the property most likely accepts."""
    if "enum" in prop:
        return rng.choice(prop["enum"])
    if "const" in prop:
        return prop["const"]
    kind = prop.get("type")
    if kind == "string":
        if "pattern" in prop:
            fitting = [v for v in _STRINGS if re.search(prop["pattern"], v)]
            return rng.choice(fitting) if fitting else "x"
        return "y" * max(int(prop.get("minLength", 1)), 1)
    if kind == "integer":
        return rng.choice([1, 2, 30])
    if kind == "number":
        return rng.choice([2.5, 100, 5000.5])
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "array":
        pool = list(prop.get("items", {}).get("enum", [])) or ["att-1", "att-2"]
        return pool[:1]
    return None


def _samples(schema: dict[str, Any], rng: random.Random, count: int) -> list[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    names = sorted(props)
    out = []
    for _ in range(count):
        odd = rng.choice([0.0, 0.0, 0.05, 0.3])  # how many values are drawn from everything
        data: dict[str, Any] = {}
        for name in names:
            if rng.random() < 0.8:
                data[name] = rng.choice(_candidates(props[name])) if rng.random() < odd else _good(props[name], rng)
        if rng.random() < 0.05:
            data["not_a_field"] = "x"
        out.append(data)
    return out


def _schemas(catalog: Catalog) -> list[tuple[str, str, str, tuple[str, ...], dict[str, Any]]]:
    out = []
    for name, ctype in sorted(catalog.types.items()):
        priority = ctype.spec.default_priority
        for state in ctype.flow.states:
            out.append((name, state, priority, (), ctype.schema(state, priority)))
        for tr in ctype.flow.transitions.values():
            if tr.require:
                require = tuple(tr.require)
                out.append((name, tr.to, priority, require, ctype.schema(tr.to, priority, require=require)))
    return out


def test_fast_check_accepts_nothing_jsonschema_rejects(catalog: Catalog) -> None:
    rng = random.Random(20261205)
    accepted = rejected = 0
    for name, state, _, require, schema in _schemas(catalog):
        validator = FieldValidator(schema)
        for data in _samples(schema, rng, 150):
            full = human_errors(validator.full.iter_errors(dict(data)))
            try:
                validator.fast(dict(data))
                fast_ok = True
            except Exception:
                fast_ok = False
            if fast_ok:
                assert full == [], f"{name} in {state} (require {require}) accepted {data!r}: {full}"
            assert validator.errors(data) == full
            accepted += fast_ok
            rejected += not fast_ok
    # the generated data exercises both answers on every type
    assert accepted > 500 and rejected > 500, (accepted, rejected)


def test_validate_words_every_error_through_jsonschema(catalog: Catalog) -> None:
    ctype = catalog.types["store_complaint"]
    errors = ctype.validate({"store": "nowhere", "complaint_category": "checkout", "extra": 1})
    assert [tuple(e) for e in errors] == [
        ("fields.description", "is required"),
        ("fields.extra", "is not a field of this ticket type"),
        ("fields.store", "must be one of: hq, dept_service, dept_operations, dept_it, dept_finance, dept_hr, "
                         "dept_logistics, east, store_sh01, store_hz01, south, store_gz01, store_sz01, factory, "
                         "workshop_a, workshop_b"),
    ]
    assert ctype.validate({"store": "store_sh01", "complaint_category": "checkout",
                           "description": "顾客表示已经等待了很长时间"}) == []
