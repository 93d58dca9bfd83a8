"""Create or upgrade the schema: apply the checked-in Piccolo migrations not yet applied.

``gongdan db upgrade`` and the server's start-up both call :func:`upgrade`. All pending
migrations run in one transaction, so a failure leaves the schema as it was. Two processes
starting together do not race: PostgreSQL serialises them with an advisory lock, SQLite with
``BEGIN IMMEDIATE``; the second one then finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.table import create_db_tables

from .database import current_engine, is_postgres
from .piccolo_app import APP_NAME, MIGRATIONS
from .transaction import transaction

__all__ = ["MigrationInfo", "applied_migrations", "known_migrations", "pending_migrations", "upgrade"]

_PACKAGE = __name__.rsplit(".", 1)[0] + ".piccolo_migrations"
_LOCK_KEY = 0x6764_7570  # "gdup": any constant shared by every Gongdan process


@dataclass(frozen=True)
class MigrationInfo:
    """A checked-in migration: its id (which orders it), description and entry point."""

    id: str
    description: str
    forwards: Callable[[], Awaitable[MigrationManager]]


def known_migrations() -> list[MigrationInfo]:
    """Every checked-in migration, oldest first (Piccolo orders them by id)."""
    found: list[MigrationInfo] = []
    for path in sorted(MIGRATIONS.glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"{_PACKAGE}.{path.stem}")
        forwards = cast(Callable[[], Awaitable[MigrationManager]], module.forwards)
        found.append(MigrationInfo(str(module.ID), str(getattr(module, "DESCRIPTION", "")), forwards))
    return sorted(found, key=lambda m: m.id)


async def applied_migrations() -> list[str]:
    """Ids already applied to the bound database (empty for a database never upgraded)."""
    if not await Migration.table_exists().run():
        return []
    return sorted(await Migration.get_migrations_which_ran(app_name=APP_NAME))


async def pending_migrations() -> list[MigrationInfo]:
    """Checked-in migrations the bound database has not applied yet."""
    done = set(await applied_migrations())
    return [m for m in known_migrations() if m.id not in done]


async def upgrade() -> list[str]:
    """Apply every pending migration to the bound database in one transaction.

    Returns the ids applied (empty when the schema is already current).
    """
    engine = current_engine()
    postgres = is_postgres(engine)
    if not postgres:
        # WAL lets readers go on while one writer commits; the setting lives in the file, and it
        # cannot change inside a transaction.
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    applied: list[str] = []
    async with transaction():
        if postgres:
            await engine.run_ddl(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        await create_db_tables(Migration, if_not_exists=True)
        done = set(await Migration.get_migrations_which_ran(app_name=APP_NAME))
        for migration in known_migrations():
            if migration.id in done:
                continue
            manager = await migration.forwards()
            # Piccolo's runner narrates on stdout; `gongdan db upgrade` reports for itself.
            with contextlib.redirect_stdout(io.StringIO()):
                await cast(Callable[[], Awaitable[None]], manager.run)()
            await Migration.insert(Migration(name=migration.id, app_name=APP_NAME)).run()
            applied.append(migration.id)
    return applied
