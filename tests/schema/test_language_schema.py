"""The JSON Schema of the language: committed, current, and a real validator agrees with it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from engine.schema.langschema import SCHEMA_PATH, language_schema, language_schema_text

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "definitions").rglob("*.yaml"))


def test_committed_schema_is_current() -> None:
    committed = (ROOT / SCHEMA_PATH).read_text(encoding="utf-8")
    assert committed == language_schema_text(), "run `gongdan schema` and commit schema/gongdan.schema.json"


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(language_schema())


def test_schema_carries_field_descriptions() -> None:
    defs = language_schema()["$defs"]
    assert "Shown only while this condition holds" in defs["Field"]["properties"]["visible_when"]["description"]
    assert defs["TicketTypeSpec"]["description"]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _load(path: Path) -> object:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_file_validates_and_names_the_schema(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schema/gongdan.schema.json"
    errors = [e.message for e in validator.iter_errors(_load(path))]
    assert errors == []


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (lambda d: d["spec"].update(flw="repair"), "Additional properties are not allowed ('flw' was unexpected)"),
        (lambda d: d.update(kind="Flowz"), "'Flowz' is not one of"),
        (lambda d: d["spec"]["fields"][0].update(type="colour"), "'colour' is not one of"),
    ],
)
def test_a_broken_file_is_rejected(patch: object, expected: str, validator: jsonschema.Draft202012Validator) -> None:
    doc = _load(ROOT / "definitions" / "forms" / "equipment_repair.yaml")
    assert callable(patch)
    patch(doc)
    messages = [e.message for e in validator.iter_errors(doc)] + [
        c.message for e in validator.iter_errors(doc) for c in (e.context or [])
    ]
    assert any(expected in m for m in messages), messages
