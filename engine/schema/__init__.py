"""Definition language: YAML files → checked, compiled, immutable Catalog.

Pure: reads files and returns a Catalog or diagnostics. Imports nothing from the runtime,
the pages, piccolo or litestar.
"""

from __future__ import annotations

from .catalog import Catalog, CompiledFlow, CompiledRule, CompiledType, OrgTree
from .compiler import CheckResult, check_definitions, compile_loaded
from .diagnostics import CODES, Diagnostic, format_diagnostics, has_errors
from .formschema import FieldError
from .model import label_text

__all__ = [
    "CODES",
    "Catalog",
    "CheckResult",
    "CompiledFlow",
    "CompiledRule",
    "CompiledType",
    "Diagnostic",
    "FieldError",
    "OrgTree",
    "check_definitions",
    "compile_loaded",
    "format_diagnostics",
    "has_errors",
    "label_text",
]
