"""Read one definition file into plain data plus the line and column of every node.

The file is composed (not constructed) so that every key and value keeps its position,
duplicate keys can be reported instead of silently overwritten, and alias expansion is
bounded: a billion-laughs file stops after ``MAX_NODES`` nodes instead of eating memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# libyaml through ruamel.yaml.clib (a declared dependency): ~20x faster than the pure-Python composer.
from ruamel.yaml.cyaml import CSafeLoader as _Loader
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import (
    CollectionEndEvent,
    CollectionStartEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Path_", "SourceDoc", "read_source"]

MAX_BYTES = 1024 * 1024
MAX_NODES = 250_000
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceDoc:
    """A parsed file: its plain data and where each part of it stands."""

    file: str
    data: Any
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the node at ``path``, or of its nearest parent."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if not key and p in self.keys:
                return self.keys[p]
            p = p[:-1]
        return self.values.get((), (1, 1))

    def diag(self, code: str, path: Path_, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        line, col = self.at(path, key=key)
        return Diagnostic(code=code, file=self.file, line=line, col=col, message=message, hint=hint)


class _TooBig(Exception):
    def __init__(self, node: Node, why: str) -> None:
        self.node = node
        self.why = why


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_INF = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}


_STR = "tag:yaml.org,2002:str"


def _scalar(node: ScalarNode, full_tag: str | None = None) -> Any:
    full = str(full_tag if full_tag is not None else node.tag)
    raw: str = node.value
    if full == _STR:
        return raw
    tag = full.rsplit(":", 1)[-1]
    if tag == "null":
        return None
    if tag == "bool":
        return raw.lower() == "true"
    if tag == "int":
        text = raw.replace("_", "")
        try:
            return int(text, 0)
        except ValueError:
            return int(text, 10)
    if tag == "float":
        low = raw.lower().replace("_", "")
        if low in _INF:
            return _INF[low]
        if low == ".nan":
            return math.nan
        return float(low)
    # str, and timestamps: dates stay text; the checks that expect dates parse them.
    return raw


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.count = 0
        self.duplicates: list[Diagnostic] = []

    def build(self, node: Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node, f"more than {MAX_NODES:,} nodes after expanding aliases")
        if len(path) > MAX_DEPTH:
            raise _TooBig(node, f"nested more than {MAX_DEPTH} levels deep")
        self.values.setdefault(path, _pos(node))
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                ktag = knode.tag
                if ktag.endswith(":merge"):
                    merged = self.build(vnode, path)
                    for part in merged if isinstance(merged, list) else [merged]:
                        if isinstance(part, dict):
                            for k, v in part.items():
                                out.setdefault(k, v)
                    continue
                key = _scalar(knode, ktag) if isinstance(knode, ScalarNode) else self.build(knode, (*path, "<key>"))
                if not isinstance(key, str | int | float | bool) and key is not None:
                    key = str(key)
                kpath = (*path, key) if isinstance(key, str | int) else (*path, str(key))
                if key in out:
                    line, col = _pos(knode)
                    first = self.keys.get(kpath, (line, col))
                    self.duplicates.append(
                        Diagnostic(
                            code="E007",
                            file=self.file,
                            line=line,
                            col=col,
                            message=f"duplicate key '{key}' (first at line {first[0]})",
                            hint="keep one of them: YAML would silently use only the last",
                        )
                    )
                    continue
                self.keys[kpath] = _pos(knode)
                out[key] = self.build(vnode, kpath)
            return out
        return None  # pragma: no cover - composer yields only the three node kinds


def _syntax_hint(problem: str, char: str = "") -> str | None:
    p = problem.lower()
    if "tab" in p or char == "\t":  # libyaml does not name the character it stopped at
        return "indent with spaces; YAML does not allow tab characters for indentation"
    if "quoted scalar" in p or "end of stream" in p:
        return "a quote was opened and never closed"
    if "mapping values are not allowed" in p:
        return "put a space after ':' or quote a value that contains ': '"
    if "did not find expected '-'" in p or "did not find expected key" in p or "expected <block end>" in p:
        return "check the indentation: items of one list or mapping must start in the same column"
    if "undefined alias" in p:
        return "an alias (*name) must refer to an anchor (&name) defined earlier in the file"
    if "expected ',' or ']'" in p or "expected ',' or '}'" in p:
        return "a bracket was opened and never closed"
    return None


_LEAD = re.compile(r"^[ \t?:-]*", re.M)
_BRACKETS = re.compile(r"[^\[\]{}]+")
_SAFE_DEPTH = 1000


def _depth_bound(text: str) -> int:
    """A cheap upper bound on nesting depth: block levels need indentation or a leading '- ', flow
    levels need a bracket."""
    block = 2 * max(map(len, _LEAD.findall(text)), default=0) + 2
    flow = text.count("[") + text.count("{")
    if block + flow > _SAFE_DEPTH:
        depth = flow = 0
        for ch in _BRACKETS.sub("", text):
            depth = depth + 1 if ch in "[{" else max(depth - 1, 0)
            flow = max(flow, depth)
    return block + flow


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where a node first lies deeper than ``MAX_DEPTH``, found on parser events.

    libyaml composes recursively: tens of thousands of levels take minutes and then crash the
    process. Files that are surely shallow skip this scan.
    """
    if _depth_bound(text) <= _SAFE_DEPTH:
        return None
    loader = _Loader(text)
    stack: list[list[int]] = []  # per open collection: [is a mapping, children so far]
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, CollectionEndEvent):
                stack.pop()
                continue
            if not isinstance(event, NodeEvent):
                continue
            # Scalar mapping keys are not nodes of their own, as in _Builder.
            is_key = bool(stack) and stack[-1][0] == 1 and stack[-1][1] % 2 == 0
            if stack:
                stack[-1][1] += 1
            if len(stack) > MAX_DEPTH and not (is_key and isinstance(event, ScalarEvent)):
                return event.start_mark.line + 1, event.start_mark.column + 1
            if isinstance(event, CollectionStartEvent):
                stack.append([int(isinstance(event, MappingStartEvent)), 0])
    except MarkedYAMLError:
        pass  # composing reports it
    finally:
        dispose = getattr(loader, "dispose", None)
        if dispose is not None:
            dispose()
    return None


def read_source(path: Path, display: str) -> SourceDoc | list[Diagnostic]:
    """Parse one file; return its document or the diagnostics that stopped it."""

    def fail(code: str, message: str, line: int = 1, col: int = 1, hint: str | None = None) -> list[Diagnostic]:
        return [Diagnostic(code=code, file=display, line=line, col=col, message=message, hint=hint)]

    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return fail(
                "E004",
                f"file is {size / 1024 / 1024:.1f} MB; definition files may be at most {MAX_BYTES // 1024} KB",
                hint="split it into several files, one definition each",
            )
        raw = path.read_bytes()
    except OSError as exc:
        return fail("E001", f"cannot read file: {exc.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8")) + 1  # characters, as YAML marks count
        return fail("E006", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", line, col, "save the file as UTF-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        return fail("E006", "file contains NUL bytes; it is not a text file")
    deep = _too_deep(text)
    if deep is not None:
        return fail(
            "E005",
            f"document is nested more than {MAX_DEPTH} levels deep",
            *deep,
            "remove recursive or repeated aliases",
        )
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "invalid YAML"
        # A quote or bracket left open is found only at the end of the file: point at where it opens.
        unclosed = "end of stream" in problem or "expected ',' or" in problem
        mark = (exc.context_mark if unclosed else None) or exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if "expected a single document" in str(exc):
            return fail("E008", "a definition file holds exactly one YAML document", line, col,
                        "remove the '---' separator and put the next definition in its own file")
        rows = text.split("\n")
        char = rows[line - 1][col - 1 : col] if line <= len(rows) else ""
        return fail("E001", problem, line, col, _syntax_hint(problem, char))
    except Exception as exc:  # libyaml reports a few low-level failures without marks
        return fail("E001", f"cannot parse YAML: {exc}")
    finally:
        dispose = getattr(loader, "dispose", None)
        if dispose is not None:
            dispose()
    if root is None:
        return fail("E002", "file is empty", hint="a definition needs apiVersion, kind, metadata and spec")
    builder = _Builder(display)
    try:
        data = builder.build(root, ())
    except _TooBig as exc:
        line, col = _pos(exc.node)
        return fail("E005", f"document is {exc.why}", line, col, "remove recursive or repeated aliases")
    except RecursionError:
        return fail("E005", "document is nested too deeply")
    if builder.duplicates:
        return builder.duplicates
    if not isinstance(data, dict):
        line, col = _pos(root)
        return fail("E003", "a definition file must be a mapping with apiVersion, kind, metadata and spec",
                    line, col, "this file looks like plain text or a list, not a definition")
    return SourceDoc(file=display, data=data, values=builder.values, keys=builder.keys)
