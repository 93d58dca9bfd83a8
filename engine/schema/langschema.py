"""The JSON Schema of the definition language itself, generated from the msgspec structs.

Editors use it (through the ``# yaml-language-server: $schema=...`` line in each file) to complete
and check keys while an admin types.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from .kinds import API_VERSION, KINDS

__all__ = ["SCHEMA_PATH", "language_schema", "language_schema_text"]

SCHEMA_PATH = "schema/gongdan.schema.json"


def language_schema() -> dict[str, Any]:
    infos = list(KINDS.values())
    (docs, defs) = msgspec.json.schema_components([k.document for k in infos], ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gongdan.dev/schema/gongdan.schema.json",
        "title": "Gongdan definition",
        "description": f"One definition file: apiVersion {API_VERSION}, a kind, metadata and spec.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"enum": [k.name for k in infos], "description": "What this file defines."},
            "metadata": {"$ref": "#/$defs/Metadata"},
            "spec": {"type": "object"},
        },
        "allOf": [
            {"if": {"properties": {"kind": {"const": k.name}}, "required": ["kind"]}, "then": ref}
            for k, ref in zip(infos, docs, strict=True)
        ],
        "$defs": defs,
    }


def language_schema_text() -> str:
    return json.dumps(language_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
