"""``gongdan check`` and ``gongdan schema``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.schema import check_definitions, format_diagnostics
from engine.schema.langschema import SCHEMA_PATH, language_schema_text

__all__ = ["register"]


def _check(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    if not root.exists():
        print(f"gongdan: error: {root}: no such file or directory", file=sys.stderr)
        return 2
    result = check_definitions(root)
    diags = result.diagnostics
    if args.format != "text":
        out = format_diagnostics(diags, args.format)
        if out:
            print(out)
        return 0 if result.ok else 1
    if diags:
        print(format_diagnostics(diags))
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    print(f"{root}: {result.files} files, {errors} errors, {warnings} warnings")
    if result.catalog is not None:
        cat = result.catalog
        counts = ", ".join(f"{n} {what}" for what, n in cat.summary().items())
        print(f"definition version {cat.version[:12]}: {counts}")
        if args.verbose:
            for name, t in cat.types.items():
                print(
                    f"  {name}: {t.label('en')} / {t.label('zh')} — flow {t.flow.name}, "
                    f"{len(t.fields)} fields, {len(t.flow.states)} states, {len(t.flow.transitions)} transitions"
                )
    return 0 if result.ok else 1


def _schema(args: argparse.Namespace) -> int:
    text = language_schema_text()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="check a definition set; exit 1 when it has errors")
    p.add_argument("directory", nargs="?", default="definitions", help="folder (or file) to check")
    p.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text lines, a JSON list, or GitHub Actions annotations",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list the ticket types of a valid set")
    p.set_defaults(handler=_check)
    p = sub.add_parser("schema", help="write the JSON Schema of the definition language")
    p.add_argument(
        "--output", "-o", default=SCHEMA_PATH, help=f"where to write it (default {SCHEMA_PATH}; - for stdout)"
    )
    p.set_defaults(handler=_schema)
