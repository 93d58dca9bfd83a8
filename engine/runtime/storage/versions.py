"""Definition versions: every Catalog the system ran under, kept by content hash.

Tickets record the version they were created under; storing the canonical snapshot next to the
hash means an old ticket's rules can always be recovered, even after the YAML moved on.
"""

from __future__ import annotations

from datetime import datetime

from engine.schema import Catalog

from .tables import DefinitionVersion

__all__ = ["definition_snapshot", "known_definition_versions", "record_definition_version"]


async def record_definition_version(catalog: Catalog) -> bool:
    """Store the catalog's hash and snapshot unless already stored; True when it was new.

    Safe to call on every start and from several processes at once.
    """
    rows = await DefinitionVersion.insert(
        DefinitionVersion(hash=catalog.version, snapshot=catalog.snapshot.decode("utf-8"))
    ).on_conflict(target=DefinitionVersion.hash, action="DO NOTHING").returning(DefinitionVersion.id).run()
    return bool(rows)


async def definition_snapshot(version: str) -> str | None:
    """The canonical JSON stored for a version hash, or None."""
    row = await DefinitionVersion.select(DefinitionVersion.snapshot).where(
        DefinitionVersion.hash == version).first().run()
    return None if row is None else str(row["snapshot"])


async def known_definition_versions() -> list[tuple[str, datetime]]:
    """(hash, first applied) for every stored version, oldest first."""
    rows = await DefinitionVersion.select(DefinitionVersion.hash, DefinitionVersion.applied_at).order_by(
        DefinitionVersion.id).run()
    return [(r["hash"], r["applied_at"]) for r in rows]
