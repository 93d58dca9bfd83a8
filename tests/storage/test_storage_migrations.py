"""Migrations create the schema from nothing on both engines, once, and the tables match it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from piccolo.apps.migrations.auto.diffable_table import DiffableTable
from piccolo.apps.migrations.auto.schema_differ import SchemaDiffer
from piccolo.apps.migrations.auto.schema_snapshot import SchemaSnapshot

from engine.runtime.storage import (
    DatabaseConfigError,
    applied_migrations,
    close_database,
    configure,
    current_engine,
    database_url,
    describe,
    known_migrations,
    open_database,
    pending_migrations,
    tables,
    upgrade,
)
from engine.runtime.storage.piccolo_app import MIGRATIONS as ROOT_MIGRATIONS
from engine.runtime.storage.tables import Ticket, User

from .conftest import Backend

pytestmark = pytest.mark.anyio


async def test_migrations_apply_from_empty(fresh_db: Backend) -> None:
    ids = [m.id for m in known_migrations()]
    assert len(ids) == len(list((ROOT_MIGRATIONS).glob("gongdan_*.py"))) >= 3
    assert [m.id for m in await pending_migrations()] == ids
    assert await applied_migrations() == []

    # Two processes starting at once: one applies everything, the other waits and finds nothing.
    results = await asyncio.gather(upgrade(), upgrade())
    assert sorted(results, key=len) == [[], ids]
    assert await applied_migrations() == ids
    assert await pending_migrations() == []
    assert await upgrade() == []

    for table in tables():
        assert await table.table_exists().run(), table._meta.tablename
        # every declared column exists in the migrated schema
        assert await table.select(*table.all_columns()).limit(1).run() == []


async def test_search_index_per_engine(fresh_db: Backend) -> None:
    await upgrade()
    engine = current_engine()
    if fresh_db.name == "postgres":
        rows = await engine.run_ddl(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'tickets_search_text_trgm'")
        assert "gin_trgm_ops" in rows[0]["indexdef"]
    else:
        rows = await engine.run_ddl("SELECT sql FROM sqlite_master WHERE name = 'ticket_search'")
        assert "trigram" in rows[0]["sql"]


async def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    configure(f"sqlite:///{tmp_path / 'g.db'}")
    await upgrade()
    assert (await current_engine().run_ddl("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await Ticket.insert(Ticket(type="t", title="x", state="s", state_category="open", priority="p",
                                   requester_id=999, definition_version="v")).run()
    assert await User.count().run() == 0


def test_default_url_is_sqlite_under_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("GONGDAN_DATA_DIR", raising=False)
    assert database_url() == "sqlite:///var/gongdan.db"
    monkeypatch.setenv("GONGDAN_DATA_DIR", str(tmp_path / "d"))
    assert database_url() == f"sqlite:///{tmp_path}/d/gongdan.db"
    engine = configure()
    assert engine.engine_type == "sqlite"
    assert (tmp_path / "d").is_dir()
    monkeypatch.setenv("DATABASE_URL", "postgresql://gd:pw@db.example:5433/gongdan")
    assert database_url() == "postgresql://gd:pw@db.example:5433/gongdan"
    assert configure().engine_type == "postgres"  # builds without connecting


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://x/y", "DATABASE_URL 'mysql://x/y' is not supported: use postgresql://… or sqlite:///path"),
    ("sqlite:", "sqlite:: no database file given"),
    ("sqlite://host/x.db", "sqlite://host/x.db: use sqlite:///relative/path or sqlite:////absolute/path"),
])
def test_bad_urls_are_named(url: str, message: str) -> None:
    with pytest.raises(DatabaseConfigError) as info:
        configure(url)
    assert str(info.value) == message


def test_describe_hides_passwords() -> None:
    assert describe("postgresql://gd:secret@db:5432/gongdan") == "postgresql://gd:***@db:5432/gongdan"
    assert describe("postgresql://gd@db/gongdan") == "postgresql://gd@db/gongdan"
    assert describe("sqlite:///var/gongdan.db") == "sqlite:///var/gongdan.db"


async def test_tables_match_checked_in_migrations() -> None:
    """What ``piccolo migrations new gongdan --auto`` checks: the tables need no new migration."""
    managers = [await m.forwards() for m in known_migrations()]
    snapshot = SchemaSnapshot(managers).get_snapshot()
    current = [
        DiffableTable(class_name=t.__name__, tablename=t._meta.tablename, columns=t._meta.non_default_columns,
                      constraints=t._meta.constraints, schema=t._meta.schema)
        for t in tables()
    ]
    statements = SchemaDiffer(schema=current, schema_snapshot=snapshot, auto_input="n").get_alter_statements()
    assert [s for group in statements for s in group.statements] == []


async def test_open_and_close_database(fresh_db: Backend) -> None:
    """What the server does at start and stop: migrate, pool on PostgreSQL, close."""
    engine = await open_database(fresh_db.url)
    try:
        assert await pending_migrations() == []
        assert await User.count().run() == 0
        assert (getattr(engine, "pool", None) is not None) == (fresh_db.name == "postgres")
    finally:
        await close_database(engine)
    assert getattr(engine, "pool", None) is None
