"""The compiled Catalog: content hash, per-type JSON Schema and the shared validation path."""

from __future__ import annotations

import shutil
from pathlib import Path

import jsonschema
import pytest

from engine.schema import Catalog, check_definitions

ROOT = Path(__file__).resolve().parents[2]
DEFS = ROOT / "definitions"


def compile_dir(path: Path) -> Catalog:
    result = check_definitions(path, display_base=path)
    assert result.catalog is not None, [d.render() for d in result.diagnostics]
    return result.catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return compile_dir(DEFS)


def test_shipped_definitions_have_no_diagnostics() -> None:
    result = check_definitions(DEFS, display_base=ROOT)
    assert [d.render() for d in result.diagnostics] == []


def test_hash_ignores_comments_key_order_and_whitespace(tmp_path: Path, catalog: Catalog) -> None:
    copy = tmp_path / "defs"
    shutil.copytree(DEFS, copy)
    flow = copy / "flows" / "repair.yaml"
    text = flow.read_text(encoding="utf-8")
    # comments, blank lines, a different key order and flow vs block style
    text = text.replace(
        "initial: reported", "# where every repair starts\n\n  initial:    reported   # the first state"
    )
    text = text.replace("apiVersion: gongdan/v1\nkind: Flow", "kind: Flow\napiVersion: gongdan/v1")
    flow.write_text(text, encoding="utf-8")
    assert compile_dir(copy).version == catalog.version


def test_hash_changes_with_content(tmp_path: Path, catalog: Catalog) -> None:
    copy = tmp_path / "defs"
    shutil.copytree(DEFS, copy)
    form = copy / "forms" / "equipment_repair.yaml"
    form.write_text(form.read_text(encoding="utf-8").replace("max_length: 64", "max_length: 65"), encoding="utf-8")
    assert compile_dir(copy).version != catalog.version


def test_catalog_is_immutable(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.types["x"] = catalog.types["equipment_repair"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        catalog.version = "x"  # type: ignore[misc]


def test_type_schema_is_valid_draft_2020_12(catalog: Catalog) -> None:
    for t in catalog.types.values():
        schema = t.json_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["additionalProperties"] is False


REPAIR_OK = {"device_no": "MO-0042", "device_type": "moulding", "area": "workshop_a"}


def test_valid_repair_data_passes(catalog: Catalog) -> None:
    assert catalog.types["equipment_repair"].validate(REPAIR_OK) == []


def test_every_error_at_once_with_field_paths(catalog: Catalog) -> None:
    errors = catalog.types["equipment_repair"].validate(
        {"device_no": "mo42", "device_type": "toaster", "stopped": "yes", "colour": "red"}
    )
    assert sorted(errors) == [
        ("fields.area", "is required"),
        ("fields.colour", "is not a field of this ticket type"),
        ("fields.device_no", "does not have the required format"),
        ("fields.device_type", "must be one of: moulding, press, conveyor, electrical, control_cabinet"),
        ("fields.stopped", "must be true or false"),
    ]


def test_fields_hidden_in_a_state_are_not_required_there_but_required_by_a_step(catalog: Catalog) -> None:
    repair = catalog.types["equipment_repair"]
    assert repair.validate(REPAIR_OK, state="in_repair") == []
    errors = repair.validate(REPAIR_OK, state="in_repair", require=("parts_used", "repair_cost"))
    assert errors == [("fields.parts_used", "is required"), ("fields.repair_cost", "is required")]


def test_required_when_becomes_an_if_then_clause(tmp_path: Path) -> None:
    copy = tmp_path / "defs"
    shutil.copytree(DEFS, copy)
    form = copy / "forms" / "equipment_repair.yaml"
    form.write_text(
        form.read_text(encoding="utf-8").replace(
            "      max_length: 2000\n",
            "      max_length: 2000\n      required_when: {stopped: true}\n",
        ),
        encoding="utf-8",
    )
    repair = compile_dir(copy).types["equipment_repair"]
    schema = repair.json_schema
    assert {
        "if": {"properties": {"stopped": {"const": True}}, "required": ["stopped"]},
        "then": {"required": ["fault_description"]},
    } in schema["allOf"]
    assert repair.validate({**REPAIR_OK, "stopped": False}) == []
    assert repair.validate({**REPAIR_OK, "stopped": True}) == [("fields.fault_description", "is required")]
    # the same schema, used directly through jsonschema, agrees
    assert not jsonschema.Draft202012Validator(schema).is_valid({**REPAIR_OK, "stopped": True})
