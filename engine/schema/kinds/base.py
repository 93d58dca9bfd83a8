"""What every kind of definition provides, and the context its checks run in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from ..diagnostics import Diagnostic
from ..model import Base, Metadata
from ..source import Path_, SourceDoc

__all__ = ["API_VERSION", "Context", "KindInfo", "Loaded", "document_type"]

API_VERSION = "gongdan/v1"


def document_type(kind: str, spec: type[Any], doc: str) -> type[Any]:
    """The envelope struct of one kind: apiVersion, kind, metadata, spec."""
    cls: type[Any] = msgspec.defstruct(
        f"{kind}Document",
        [
            ("apiVersion", Literal["gongdan/v1"]),
            ("kind", Literal[kind]),
            ("metadata", Metadata),
            ("spec", spec),
        ],
        bases=(Base,),
        kw_only=True,
        module=spec.__module__,
    )
    cls.__doc__ = doc
    return cls


@dataclass(frozen=True)
class Loaded:
    """One definition: where it came from and its typed content."""

    source: SourceDoc
    doc: Any

    @property
    def name(self) -> str:
        return str(self.doc.metadata.name)

    @property
    def kind(self) -> str:
        return str(self.doc.kind)

    @property
    def spec(self) -> Any:
        return self.doc.spec

    def diag(self, code: str, path: Path_, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        return self.source.diag(code, path, message, hint, key=key)


@dataclass
class Context:
    """All definitions of a set, grouped by kind, and the diagnostics found so far."""

    loaded: list[Loaded]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def of(self, kind: str) -> list[Loaded]:
        return [d for d in self.loaded if d.kind == kind]

    def named(self, kind: str) -> dict[str, Loaded]:
        out: dict[str, Loaded] = {}
        for d in self.of(kind):
            out.setdefault(d.name, d)
        return out

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)


@dataclass(frozen=True)
class KindInfo:
    """A kind of definition: its name, folder, spec struct and semantic check."""

    name: str
    folder: str
    spec: type[Any]
    document: type[Any]
    check: Callable[[Context], None]
