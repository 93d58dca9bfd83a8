"""Unique-together and composite indexes, and substring search.

Written by hand (``piccolo migrations new gongdan`` made the empty file): Piccolo declares only
single-column indexes, its table constraints need ``ALTER TABLE … ADD CONSTRAINT`` (which SQLite
lacks), and the search index differs per engine.

- PostgreSQL: ``pg_trgm`` GIN index on ``tickets.search_text``; ``ILIKE '%…%'`` uses it.
- SQLite: an external-content FTS5 table with the ``trigram`` tokenizer, kept in step with
  ``tickets`` by triggers, so no application code writes to it.
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T10:57:53:608008"
VERSION = "1.38.0"
DESCRIPTION = "Unique-together, queue, list and timeline indexes; trigram search (pg_trgm / FTS5)"

UNIQUE = {
    "user_roles_user_id_role": "user_roles (user_id, role)",
    "team_members_user_id_team": "team_members (user_id, team)",
    "idempotency_keys_user_id_key": "idempotency_keys (user_id, key)",
}

INDEXES = {
    # queues: "my open tickets", "my team's open tickets"
    "tickets_assignee_id_state_category": "tickets (assignee_id, state_category)",
    "tickets_team_state_category": "tickets (team, state_category)",
    # scoped lists, newest first, with id as the pagination cursor
    "tickets_org_unit_id": "tickets (org_unit, id)",
    "tickets_requester_id_id": "tickets (requester_id, id)",
    "tickets_type_id": "tickets (type, id)",
    "tickets_created_at_id": "tickets (created_at, id)",
    # timelines and per-ticket lists
    "ticket_events_ticket_id_id": "ticket_events (ticket_id, id)",
    "comments_ticket_id_id": "comments (ticket_id, id)",
    "approvals_ticket_id_round": "approvals (ticket_id, round)",
    "approvals_approver_id_decision": "approvals (approver_id, decision)",
    # sign-in throttling looks back a few minutes per username and per address
    "login_failures_username_at": "login_failures (username, at)",
    "login_failures_ip_at": "login_failures (ip, at)",
}

POSTGRES_SEARCH = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS tickets_search_text_trgm ON tickets USING gin (search_text gin_trgm_ops)",
]

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS ticket_search USING fts5("
    "search_text, content='tickets', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_insert AFTER INSERT ON tickets BEGIN "
    "INSERT INTO ticket_search (rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_delete AFTER DELETE ON tickets BEGIN "
    "INSERT INTO ticket_search (ticket_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_update AFTER UPDATE OF search_text ON tickets BEGIN "
    "INSERT INTO ticket_search (ticket_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO ticket_search (rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO ticket_search (ticket_search) VALUES ('rebuild')",
]

SQLITE_SEARCH_DROP = [
    "DROP TRIGGER IF EXISTS tickets_search_update",
    "DROP TRIGGER IF EXISTS tickets_search_delete",
    "DROP TRIGGER IF EXISTS tickets_search_insert",
    "DROP TABLE IF EXISTS ticket_search",
]


async def _run_all(statements: list[str]) -> None:
    engine = engine_finder()
    assert engine is not None
    for sql in statements:
        await engine.run_ddl(sql)


async def _forwards() -> None:
    engine = engine_finder()
    assert engine is not None
    create = [f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {target}" for name, target in UNIQUE.items()]
    create += [f"CREATE INDEX IF NOT EXISTS {name} ON {target}" for name, target in INDEXES.items()]
    search = POSTGRES_SEARCH if engine.engine_type == "postgres" else SQLITE_SEARCH
    await _run_all(create + search)


async def _backwards() -> None:
    engine = engine_finder()
    assert engine is not None
    search = (["DROP INDEX IF EXISTS tickets_search_text_trgm"] if engine.engine_type == "postgres"
              else SQLITE_SEARCH_DROP)
    await _run_all(search + [f"DROP INDEX IF EXISTS {name}" for name in [*INDEXES, *UNIQUE]])


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="gongdan", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
