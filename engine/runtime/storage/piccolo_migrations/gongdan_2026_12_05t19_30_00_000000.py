"""SQLite: the newest-first index also carries the columns a scope tests, so the list skips rows early.

A store's list walks ``tickets (created_at, id)`` from the newest ticket and tests each row
against the scope (type and org unit, requester, assignee) until it has a page: ~700 rows for a
store's 51. With those columns in the index entry SQLite tests them there and reads the table
row only for the 51 it keeps (the list query on 1,000,000 tickets: 0.49 → 0.37 ms). The wider
index replaces the old one, so a create still maintains the same number of indexes.

PostgreSQL is left as it is: it tests the same predicates only after fetching the row whatever
the index holds (an index with these columns INCLUDEd measured no faster there).
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-05T19:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "SQLite: tickets (created_at, id) also holds type, org unit, requester and assignee"

NEW = "tickets_created_at_scope"
NEW_TARGET = "tickets (created_at, id, type, org_unit, requester_id, assignee_id)"
OLD = "tickets_created_at_id"
OLD_TARGET = "tickets (created_at, id)"


async def _swap(make: str, target: str, drop: str) -> None:
    engine = engine_finder()
    assert engine is not None
    if engine.engine_type != "sqlite":
        return
    await engine.run_ddl(f"CREATE INDEX IF NOT EXISTS {make} ON {target}")
    await engine.run_ddl(f"DROP INDEX IF EXISTS {drop}")
    # The list's plan depends on statistics (see docs/benchmarks.md): give the index its own.
    await engine.run_ddl(f"ANALYZE {make}")


async def _forwards() -> None:
    await _swap(NEW, NEW_TARGET, OLD)


async def _backwards() -> None:
    await _swap(OLD, OLD_TARGET, NEW)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="gongdan", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
