"""Shape: turn a parsed file into the typed struct of its kind, or say everything that is wrong with it.

msgspec converts a valid document in one fast step. Only when that fails does the document go
through the kind's JSON Schema (generated from the same structs) to collect *every* structural
problem, each mapped back to a line and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

import jsonschema
import msgspec

from .diagnostics import Diagnostic, did_you_mean
from .kinds import API_VERSION, KINDS, Loaded
from .source import Path_, SourceDoc

__all__ = ["kind_schema", "shape"]

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}
_PATTERN_WORDS = {
    r"^[a-z][a-z0-9_]*$": "an id: lower-case ASCII letters, digits and '_', starting with a letter",
    r"^[a-z][a-z0-9_-]*$": "a name: lower-case ASCII letters, digits, '_' and '-', starting with a letter",
    r"^[A-Z]{3}$": "a three-letter currency code such as CNY",
}


@cache
def kind_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind's documents, as msgspec generates it."""
    return msgspec.json.schema(KINDS[kind].document)


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(kind_schema(kind))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, int | float):
        return "a number"
    return "text"


def _where(path: Iterable[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the document"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root["$defs"][name]
    return schema


def _expected(schema: dict[str, Any], root: dict[str, Any]) -> list[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return [w for s in schema["anyOf"] for w in _expected(s, root)]
    t = schema.get("type")
    if isinstance(t, list):
        return [_TYPE_WORDS.get(str(x), str(x)) for x in t]
    if t:
        return [_TYPE_WORDS.get(str(t), str(t))]
    if "enum" in schema:
        return ["one of " + ", ".join(map(str, schema["enum"]))]
    if "const" in schema:
        return [repr(schema["const"])]
    return ["a value"]


def _fits_type(schema: dict[str, Any], value: Any, root: dict[str, Any]) -> bool:
    schema = _resolve(schema, root)
    t = schema.get("type")
    if t is None:
        return True
    types = t if isinstance(t, list) else [t]
    checks = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }
    return any(checks.get(x, False) for x in types)


def _errors(
    err: jsonschema.ValidationError, root: dict[str, Any]
) -> Iterator[tuple[str, Path_, str, str | None, bool]]:
    """(code, path, message, hint, at_key) for one jsonschema error, descending into anyOf."""
    path: Path_ = tuple(err.absolute_path)
    v = err.validator
    inst = err.instance
    if v == "additionalProperties" and isinstance(inst, dict):
        known = list(_resolve(err.schema, root).get("properties", {}))
        for key in inst:
            if key not in known:
                hint: str | None = did_you_mean(str(key), known) or f"allowed keys: {', '.join(known)}"
                yield "E101", (*path, key), f"unknown key '{key}' in {_where(path)}", hint, True
        return
    if v == "required" and isinstance(inst, dict):
        for key in err.validator_value:
            if key not in inst:
                yield "E103", path, f"missing key '{key}' in {_where(path)}", None, False
        return
    if v in ("anyOf", "oneOf"):
        branches = err.schema[v]
        fitting = [i for i, b in enumerate(branches) if _fits_type(b, inst, root)]
        if len(fitting) == 1 and err.context:
            sub = [e for e in err.context if e.relative_schema_path and e.relative_schema_path[0] == fitting[0]]
            for e in sub:
                yield from _errors(e, root)
            if sub:
                return
        expected = [w for b in branches for w in _expected(b, root)]
        yield (
            "E102",
            path,
            f"{_where(path)} must be {' or '.join(dict.fromkeys(expected))}, not {_describe(inst)}",
            None,
            False,
        )
        return
    if v == "type":
        type_words = _expected(err.schema, root)
        yield "E102", path, f"{_where(path)} must be {' or '.join(type_words)}, not {_describe(inst)}", None, False
        return
    if v in ("enum", "const"):
        allowed = [str(x) for x in (err.validator_value if v == "enum" else [err.validator_value])]
        hint = did_you_mean(str(inst), allowed) or f"use one of: {', '.join(allowed)}"
        yield "E104", path, f"'{inst}' is not a valid value for {_where(path)}", hint, False
        return
    if v == "pattern":
        what = _PATTERN_WORDS.get(err.validator_value, f"text matching {err.validator_value}")
        hint = None
        if isinstance(inst, str) and re.fullmatch(r"[A-Za-z0-9_ -]+", inst):
            hint = f"try '{re.sub(r'[^a-z0-9_]+', '_', inst.lower()).strip('_')}'"
        yield "E104", path, f"'{inst}' is not {what} (at {_where(path)})", hint, False
        return
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "more than",
        "exclusiveMaximum": "less than",
        "minLength": "at least {} characters long",
        "maxLength": "at most {} characters long",
        "minItems": "a list of at least {} items",
        "maxItems": "a list of at most {} items",
    }
    if v in words:
        word = words[v]
        text = word.format(err.validator_value) if "{}" in word else f"{word} {err.validator_value}"
        yield "E104", path, f"{_where(path)} must be {text}", None, False
        return
    yield "E104", path, f"{_where(path)}: {err.message}", None, False


_MSGSPEC_AT = re.compile(r"- at (?:`key` in )?`\$([^`]*)`$")
_MSGSPEC_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


def _msgspec_path(message: str) -> Path_:
    """The path msgspec names at the end of its message (``- at `$.spec.fields[0]```), up to an unknown key."""
    m = _MSGSPEC_AT.search(message)
    path: list[str | int] = []
    for name, index in _MSGSPEC_STEP.findall(m[1] if m else ""):
        if index == "...":
            break
        path.append(int(index) if index else name)
    return tuple(path)


def shape(src: SourceDoc) -> Loaded | list[Diagnostic]:
    """The typed definition in ``src``, or every structural problem it has."""
    data = src.data
    problems: list[Diagnostic] = []
    api = data.get("apiVersion")
    if api is None:
        problems.append(
            src.diag("E103", (), "missing key 'apiVersion'", f"start the file with apiVersion: {API_VERSION}")
        )
    elif api != API_VERSION:
        problems.append(src.diag("E107", ("apiVersion",), f"unknown apiVersion '{api}'", f"use {API_VERSION}"))
    kind = data.get("kind")
    if kind is None:
        problems.append(src.diag("E103", (), "missing key 'kind'", f"use one of: {', '.join(KINDS)}"))
        return problems
    if not isinstance(kind, str) or kind not in KINDS:
        problems.append(
            src.diag(
                "E108",
                ("kind",),
                f"unknown kind '{kind}'",
                did_you_mean(str(kind), KINDS) or f"use one of: {', '.join(KINDS)}",
            )
        )
        return problems
    if problems:
        return problems
    info = KINDS[kind]
    try:
        return Loaded(source=src, doc=msgspec.convert(data, info.document, strict=True))
    except msgspec.ValidationError as first:
        root = kind_schema(kind)
        seen: set[tuple[str, Path_, str]] = set()
        for err in _validator(kind).iter_errors(data):
            for code, path, message, hint, at_key in _errors(err, root):
                if (code, path, message) in seen:
                    continue
                seen.add((code, path, message))
                problems.append(src.diag(code, path, message, hint, key=at_key))
        if not problems:  # msgspec is stricter than the schema somewhere: report its own words
            problems.append(src.diag("E102", _msgspec_path(str(first)), str(first)))
        problems.sort(key=lambda d: (d.line, d.col))
        return problems
