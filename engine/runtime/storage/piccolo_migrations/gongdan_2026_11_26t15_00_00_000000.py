"""SQLite search index: new tickets are indexed once per committed transaction, not per row.

The FTS5 insert trigger indexed every new ticket on its own, and a transaction per ticket made
FTS5 write (and later merge) a segment for every ticket: most of the cost of a create. Now
``ticket_search_state.indexed_to`` names the newest ticket in the index; the write transactions of
the application index every newer ticket just before they commit, in one statement (see
:func:`engine.runtime.storage.search.index_new_tickets_sql`), and a search also looks at tickets
above ``indexed_to`` with ``LIKE``, so it finds rows written by other means before they are
indexed. Updates and deletes of indexed tickets keep their triggers; those of tickets not yet
indexed have nothing to remove from the index.

PostgreSQL is unchanged (its trigram GIN index has a pending list of its own).
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "SQLite: index new tickets for search once per transaction"

_INDEXED = "old.id <= (SELECT indexed_to FROM ticket_search_state WHERE id = 1)"

FORWARDS = [
    "CREATE TABLE IF NOT EXISTS ticket_search_state "
    "(id INTEGER PRIMARY KEY CHECK (id = 1), indexed_to INTEGER NOT NULL)",
    # The insert trigger kept the index complete up to now.
    "INSERT OR IGNORE INTO ticket_search_state (id, indexed_to) SELECT 1, coalesce(max(id), 0) FROM tickets",
    "DROP TRIGGER IF EXISTS tickets_search_insert",
    "DROP TRIGGER IF EXISTS tickets_search_delete",
    "DROP TRIGGER IF EXISTS tickets_search_update",
    f"CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets WHEN {_INDEXED} BEGIN "
    "INSERT INTO ticket_search (ticket_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    f"CREATE TRIGGER tickets_search_update AFTER UPDATE OF search_text ON tickets WHEN {_INDEXED} BEGIN "
    "INSERT INTO ticket_search (ticket_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO ticket_search (rowid, search_text) VALUES (new.id, new.search_text); END",
]

BACKWARDS = [
    "INSERT INTO ticket_search (rowid, search_text) SELECT id, search_text FROM tickets "
    "WHERE id > (SELECT indexed_to FROM ticket_search_state WHERE id = 1) ORDER BY id",
    "DROP TRIGGER IF EXISTS tickets_search_delete",
    "DROP TRIGGER IF EXISTS tickets_search_update",
    "DROP TABLE IF EXISTS ticket_search_state",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_insert AFTER INSERT ON tickets BEGIN "
    "INSERT INTO ticket_search (rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_delete AFTER DELETE ON tickets BEGIN "
    "INSERT INTO ticket_search (ticket_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_update AFTER UPDATE OF search_text ON tickets BEGIN "
    "INSERT INTO ticket_search (ticket_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO ticket_search (rowid, search_text) VALUES (new.id, new.search_text); END",
]


async def _run(statements: list[str]) -> None:
    engine = engine_finder()
    assert engine is not None
    if engine.engine_type != "sqlite":
        return
    for sql in statements:
        await engine.run_ddl(sql)


async def _forwards() -> None:
    await _run(FORWARDS)


async def _backwards() -> None:
    await _run(BACKWARDS)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="gongdan", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
