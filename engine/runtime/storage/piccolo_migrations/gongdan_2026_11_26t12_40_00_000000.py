"""Routing index: each candidate's newest assigned ticket in one index probe.

Round-robin and the least-loaded tie-break ask for every candidate's last assignment; with
(assignee_id, id) that is the last entry of the candidate's range instead of a scan of it.
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T12:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index tickets (assignee_id, id) for routing"


async def _forwards() -> None:
    engine = engine_finder()
    assert engine is not None
    await engine.run_ddl("CREATE INDEX IF NOT EXISTS tickets_assignee_id_id ON tickets (assignee_id, id)")
    if engine.engine_type == "sqlite":
        # Without statistics SQLite takes a new index for a very selective one and may answer the
        # scoped list by OR-ing indexes and sorting everything they return; measure it instead.
        await engine.run_ddl("ANALYZE tickets_assignee_id_id")


async def _backwards() -> None:
    engine = engine_finder()
    assert engine is not None
    await engine.run_ddl("DROP INDEX IF EXISTS tickets_assignee_id_id")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="gongdan", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
