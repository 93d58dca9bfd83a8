"""Check a definition set and compile it into a Catalog: the one path the CLI, CI and server share."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from .catalog import Catalog, CompiledFlow, CompiledRule, CompiledType, DocumentInfo, OrgTree, frozen_map
from .conditions import Cond, parse_condition
from .diagnostics import Diagnostic, has_errors
from .kinds import KINDS, Context, Loaded
from .kinds.org import walk_units
from .kinds.report import compile_reports
from .loader import load_definitions

__all__ = ["CheckResult", "catalog_from_snapshot", "check_definitions", "compile_loaded"]


class CheckResult(msgspec.Struct, frozen=True):
    """What checking a set found; ``catalog`` is set only when there are no errors."""

    files: int
    diagnostics: list[Diagnostic]
    catalog: Catalog | None

    @property
    def ok(self) -> bool:
        return self.catalog is not None


def _sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file, d.line, d.col, d.code)


def check_definitions(root: Path, display_base: Path | None = None) -> CheckResult:
    """Load, check and compile every definition under ``root``; every problem is reported at once."""
    loaded, problems = load_definitions(root, display_base)
    ctx = Context(loaded)
    for info in KINDS.values():
        info.check(ctx)
    diagnostics = sorted({d.render(): d for d in [*problems, *ctx.diagnostics]}.values(), key=_sort_key)
    files = len({d.source.file for d in loaded} | {d.file for d in problems})
    if has_errors(diagnostics):
        return CheckResult(files, diagnostics, None)
    return CheckResult(files, diagnostics, compile_loaded(loaded))


def _cond(raw: Any) -> Cond | None:
    if raw is None:
        return None
    cond, problems = parse_condition(raw)
    assert not problems, "compile runs only on checked definitions"
    return cond


def _flow(d: Loaded) -> CompiledFlow:
    spec = d.spec
    return CompiledFlow(
        name=d.name,
        spec=spec,
        states=frozen_map({s.id: s for s in spec.states}),
        transitions=frozen_map({t.id: t for t in spec.transitions}),
        approvals=frozen_map({a.state: a for a in spec.approvals}),
        routing=tuple((r, _cond(r.when)) for r in spec.routing),
        conditions=frozen_map({t.id: c for t in spec.transitions if (c := _cond(t.when)) is not None}),
        level_conditions=MappingProxyType(
            {(a.id, lv.id): c for a in spec.approvals for lv in a.levels if (c := _cond(lv.when)) is not None}
        ),
    )


def compile_loaded(loaded: list[Loaded]) -> Catalog:
    """Build the Catalog of a checked definition set."""
    by_kind: dict[str, list[Loaded]] = {}
    for d in sorted(loaded, key=lambda x: (x.kind, x.name)):
        by_kind.setdefault(d.kind, []).append(d)
    snapshot = msgspec.json.encode(
        [msgspec.to_builtins(d.doc) for d in sorted(loaded, key=lambda x: (x.kind, x.name))], order="sorted"
    )
    version = hashlib.sha256(snapshot).hexdigest()

    units, parent, levels = {}, {}, {}
    for d in by_kind.get("OrgUnits", []):
        levels.update({lv.id: lv for lv in d.spec.levels})
        for unit, _path, up in walk_units(d.spec.units):
            units[unit.id] = unit
            parent[unit.id] = up
    org = OrgTree(units=frozen_map(units), parent=frozen_map(parent), levels=frozen_map(levels))
    teams = {t.id: t for d in by_kind.get("Teams", []) for t in d.spec.teams}
    flows = {d.name: _flow(d) for d in by_kind.get("Flow", [])}
    types = {}
    for d in by_kind.get("TicketType", []):
        spec = d.spec
        types[d.name] = CompiledType(
            name=d.name,
            spec=spec,
            flow=flows[spec.flow],
            fields=frozen_map({f.id: f for f in spec.fields}),
            conditions=frozen_map({f.id: (_cond(f.visible_when), _cond(f.required_when)) for f in spec.fields}),
            teams=tuple(teams),
            org_units=tuple(units),
        )
    return Catalog(
        version=version,
        types=frozen_map(types),
        flows=frozen_map(flows),
        roles=frozen_map({d.name: d.spec for d in by_kind.get("Role", [])}),
        teams=frozen_map(teams),
        org=org,
        calendars=frozen_map({d.name: d.spec for d in by_kind.get("Calendar", [])}),
        slas=frozen_map({d.name: d.spec for d in by_kind.get("SLA", [])}),
        documents=tuple(
            DocumentInfo(d.kind, d.name, d.source.file, d.doc.metadata.version)
            for d in sorted(loaded, key=lambda x: (x.source.file, x.kind))
        ),
        snapshot=snapshot,
        channels=frozen_map({d.name: d.spec for d in by_kind.get("Channel", [])}),
        notifications=tuple(
            CompiledRule(document=d.name, rule=r, types=frozenset(d.spec.types), when=_cond(r.when))
            for d in by_kind.get("Notification", [])
            for r in d.spec.rules
        ),
        reports=frozen_map(compile_reports(Context(loaded))),
    )


def catalog_from_snapshot(snapshot: bytes) -> Catalog:
    """Rebuild the Catalog of a stored definition version (tickets keep the rules they were raised under)."""
    from .source import SourceDoc

    docs = msgspec.json.decode(snapshot)
    loaded = []
    for raw in docs:
        info = KINDS[raw["kind"]]
        doc = msgspec.convert(raw, info.document, strict=True)
        src = SourceDoc(file=f"<stored>/{info.folder}/{doc.metadata.name}.yaml", data=raw)
        loaded.append(Loaded(source=src, doc=doc))
    return compile_loaded(loaded)
