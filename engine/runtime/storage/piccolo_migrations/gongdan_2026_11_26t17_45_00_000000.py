"""Room in every page of ``tickets`` for the updates SLA clocks, priorities and states make (PostgreSQL).

An update on PostgreSQL writes a new version of the row; when no indexed column changes and the
row's page has room, the new version stays in the same page and no index is touched (a heap-only
update). A table filled to the brim (the default fill factor of 100, and every bulk load) has no
such room, so each SLA sweep write would add an entry to every index of ``tickets`` — eleven,
among them the trigram index of the search text. A fill factor of 85 keeps 15 % of each page free
for it; it applies to pages written from now on (``VACUUM FULL tickets`` rewrites the old ones).
SQLite updates rows in place and needs nothing.
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T17:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Fill factor 85 for tickets (PostgreSQL)"


async def _forwards() -> None:
    engine = engine_finder()
    assert engine is not None
    if engine.engine_type == "postgres":
        await engine.run_ddl("ALTER TABLE tickets SET (fillfactor = 85)")


async def _backwards() -> None:
    engine = engine_finder()
    assert engine is not None
    if engine.engine_type == "postgres":
        await engine.run_ddl("ALTER TABLE tickets RESET (fillfactor)")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="gongdan", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
