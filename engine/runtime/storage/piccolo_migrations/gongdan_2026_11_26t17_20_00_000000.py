"""Indexes of the notification outbox and of in-app notifications.

Written by hand: Piccolo declares only single-column indexes. The worker claims due outbox rows
through a partial index on what is still pending, admins list dead letters, the bell in the page
header counts a user's unread notifications, and a ticket's timeline lists what was sent about it.
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T17:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Outbox and notification indexes"


INDEXES = {
    "notification_outbox_pending": "notification_outbox (next_attempt_at) WHERE status = 'pending'",
    "notification_outbox_ticket": "notification_outbox (ticket_id, id)",
    "notification_outbox_dead": "notification_outbox (id) WHERE status = 'dead'",
    "notifications_user_unread": "notifications (user_id, id) WHERE read_at IS NULL",
    "notifications_user": "notifications (user_id, id)",
}


async def _forwards() -> None:
    engine = engine_finder()
    assert engine is not None
    for name, target in INDEXES.items():
        await engine.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


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
