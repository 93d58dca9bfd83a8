"""Find, read and shape every definition file of a set."""

from __future__ import annotations

import os
from pathlib import Path

from .diagnostics import Diagnostic
from .kinds import KINDS, Loaded
from .shape import shape
from .source import read_source

__all__ = ["SUFFIXES", "definition_files", "load_definitions"]

SUFFIXES = (".yaml", ".yml")


def definition_files(root: Path) -> list[Path]:
    """Every YAML file below ``root``, in a stable order; hidden folders are skipped."""
    if root.is_file():
        return [root]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(SUFFIXES) and not f.startswith("."))
    return out


def _display(path: Path, base: Path | None) -> str:
    """The file name shown in diagnostics: as the user named it, or relative to ``base``."""
    if base is None:
        return str(path)
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)


def load_definitions(root: Path, display_base: Path | None = None) -> tuple[list[Loaded], list[Diagnostic]]:
    """Parse and shape every file; return the typed definitions and the problems found so far."""
    loaded: list[Loaded] = []
    problems: list[Diagnostic] = []
    for path in definition_files(root):
        src = read_source(path, _display(path, display_base))
        if isinstance(src, list):
            problems.extend(src)
            continue
        result = shape(src)
        if isinstance(result, list):
            problems.extend(result)
        else:
            loaded.append(result)
    first: dict[tuple[str, str], Loaded] = {}
    for d in loaded:
        key = (d.kind, d.name)
        if key in first:
            other = first[key].source
            line, _ = other.at(("metadata", "name"))
            problems.append(d.diag("E106", ("metadata", "name"), f"{d.kind} '{d.name}' is also defined in "
                                   f"{other.file}:{line}", "give each definition its own name"))
        else:
            first[key] = d
    return [d for d in loaded if first[(d.kind, d.name)] is d], problems


def folder_hint(d: Loaded) -> str:
    return KINDS[d.kind].folder
