"""Open tickets per assignee, kept by triggers: routing reads a number instead of counting.

Least-loaded routing weighs every candidate's open tickets; counting them per create walked the
candidate's whole range of ``tickets (assignee_id, state_category)`` and grew with their open
work (tens of thousands of index entries for a busy team on a large database). The count now
lives in ``assignee_open_counts``, changed by triggers in the same transaction as the ticket, so
it is exact whenever it is read.

Open means the categories open, active and waiting (as ``directory._OPEN``).
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T15:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Open tickets per assignee, kept by triggers, for routing"

OPEN = "('open', 'active', 'waiting')"

CREATE = (
    "CREATE TABLE IF NOT EXISTS assignee_open_counts ("
    "user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE, "
    "open_count INTEGER NOT NULL DEFAULT 0)"
)
RECOUNT = [
    "DELETE FROM assignee_open_counts",
    "INSERT INTO assignee_open_counts (user_id, open_count) SELECT assignee_id, count(*) FROM tickets "
    f"WHERE assignee_id IS NOT NULL AND state_category IN {OPEN} GROUP BY assignee_id",
]

_BUMP = ("INSERT INTO assignee_open_counts (user_id, open_count) SELECT new.assignee_id, 1 "
         f"WHERE new.assignee_id IS NOT NULL AND new.state_category IN {OPEN} "
         "ON CONFLICT (user_id) DO UPDATE SET open_count = open_count + 1;")
_DROP = ("UPDATE assignee_open_counts SET open_count = open_count - 1 "
         f"WHERE user_id = old.assignee_id AND old.state_category IN {OPEN};")

SQLITE = [
    CREATE,
    *RECOUNT,
    f"CREATE TRIGGER IF NOT EXISTS tickets_open_count_insert AFTER INSERT ON tickets BEGIN {_BUMP} END",
    "CREATE TRIGGER IF NOT EXISTS tickets_open_count_update AFTER UPDATE OF assignee_id, state_category ON tickets "
    f"WHEN old.assignee_id IS NOT new.assignee_id OR (old.state_category IN {OPEN}) <> (new.state_category IN {OPEN}) "
    f"BEGIN {_DROP} {_BUMP} END",
    f"CREATE TRIGGER IF NOT EXISTS tickets_open_count_delete AFTER DELETE ON tickets BEGIN {_DROP} END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS tickets_open_count_insert",
    "DROP TRIGGER IF EXISTS tickets_open_count_update",
    "DROP TRIGGER IF EXISTS tickets_open_count_delete",
    "DROP TABLE IF EXISTS assignee_open_counts",
]

# Two counters change in user id order, so two reassignments in opposite directions cannot deadlock.
POSTGRES = [
    CREATE,
    *RECOUNT,
    f"""CREATE OR REPLACE FUNCTION tickets_open_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    minus integer := NULL;
    plus integer := NULL;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.assignee_id IS NOT NULL AND OLD.state_category IN {OPEN} THEN
        minus := OLD.assignee_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.assignee_id IS NOT NULL AND NEW.state_category IN {OPEN} THEN
        plus := NEW.assignee_id;
    END IF;
    IF minus IS NOT DISTINCT FROM plus THEN
        RETURN NULL;
    END IF;
    IF minus IS NOT NULL AND (plus IS NULL OR minus < plus) THEN
        UPDATE assignee_open_counts SET open_count = open_count - 1 WHERE user_id = minus;
        minus := NULL;
    END IF;
    IF plus IS NOT NULL THEN
        INSERT INTO assignee_open_counts (user_id, open_count) VALUES (plus, 1)
        ON CONFLICT (user_id) DO UPDATE SET open_count = assignee_open_counts.open_count + 1;
    END IF;
    IF minus IS NOT NULL THEN
        UPDATE assignee_open_counts SET open_count = open_count - 1 WHERE user_id = minus;
    END IF;
    RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS tickets_open_count ON tickets",
    "CREATE TRIGGER tickets_open_count AFTER INSERT OR DELETE OR UPDATE OF assignee_id, state_category "
    "ON tickets FOR EACH ROW EXECUTE FUNCTION tickets_open_count()",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS tickets_open_count ON tickets",
    "DROP FUNCTION IF EXISTS tickets_open_count()",
    "DROP TABLE IF EXISTS assignee_open_counts",
]


async def _run(sqlite: list[str], postgres: list[str]) -> None:
    engine = engine_finder()
    assert engine is not None
    for sql in postgres if engine.engine_type == "postgres" else sqlite:
        await engine.run_ddl(sql)


async def _forwards() -> None:
    await _run(SQLITE, POSTGRES)


async def _backwards() -> None:
    await _run(SQLITE_DROP, POSTGRES_DROP)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="gongdan", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
