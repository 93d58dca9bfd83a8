"""Fixtures: every storage test runs on a real SQLite file and on the real PostgreSQL server.

PostgreSQL comes from ``GONGDAN_TEST_POSTGRES`` (an admin URL, default the local server); the
session creates its own database ``gongdan_test_<pid>``, migrates it once, empties it before
each test and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from engine.runtime.storage import configure, tables, upgrade
from engine.runtime.storage.database import PICCOLO_CONF

ADMIN_URL = os.environ.get("GONGDAN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

DEFINITIONS = {
    "worker.yaml": "apiVersion: gongdan/v1\nkind: Role\nmetadata: {name: worker, version: 1}\n"
                   "spec:\n  label: {en: Worker, zh: 员工}\n",
    "technician.yaml": "apiVersion: gongdan/v1\nkind: Role\nmetadata: {name: technician, version: 1}\n"
                       "spec:\n  label: Technician\n",
    "org.yaml": "apiVersion: gongdan/v1\nkind: OrgUnits\nmetadata: {name: org, version: 1}\nspec:\n"
                "  levels:\n    - {id: site, label: Site}\n  units:\n"
                "    - id: factory\n      label: {en: Factory, zh: 工厂}\n      level: site\n"
                "      children:\n        - {id: workshop_a, label: Workshop A, level: site}\n",
    "teams.yaml": "apiVersion: gongdan/v1\nkind: Teams\nmetadata: {name: teams, version: 1}\nspec:\n"
                  "  teams:\n    - {id: mechanical, label: Mechanical, org_unit: factory}\n"
                  "    - {id: electrical, label: Electrical, org_unit: factory}\n",
}


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite" | "postgres"
    url: str


def pg_url(database: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


async def pg_admin(*statements: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(name: str) -> str:
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    return pg_url(name)


def drop_pg_database(name: str) -> None:
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Both databases always run: the PostgreSQL half is the production path.
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The session's PostgreSQL database, migrated once."""
    name = f"gongdan_test_{os.getpid()}"
    url = create_pg_database(name)
    saved = os.environ.get("PICCOLO_CONF")
    try:
        configure(url)
        asyncio.run(upgrade())
        yield url
    finally:
        if saved is None:
            os.environ.pop("PICCOLO_CONF", None)
        else:
            os.environ["PICCOLO_CONF"] = saved
        drop_pg_database(name)


async def _empty_postgres() -> None:
    names = ", ".join(t._meta.tablename for t in tables())
    await tables()[0]._meta.db.run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """An empty, migrated database, bound to the tables and named in ``DATABASE_URL``."""
    monkeypatch.setenv("PICCOLO_CONF", PICCOLO_CONF)
    monkeypatch.setenv("GONGDAN_DATA_DIR", str(tmp_path / "data"))
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gongdan.db'}"
        configure(url)
        asyncio.run(upgrade())
    else:
        url = request.getfixturevalue("pg_database")
        configure(url)
        asyncio.run(_empty_postgres())
    monkeypatch.setenv("DATABASE_URL", url)
    return Backend(str(request.param), url)


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A database that exists but is empty (never migrated), bound to the tables."""
    monkeypatch.setenv("PICCOLO_CONF", PICCOLO_CONF)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
        configure(url)
        yield Backend("sqlite", url)
        return
    name = f"gongdan_test_{os.getpid()}_fresh"
    url = create_pg_database(name)
    try:
        configure(url)
        yield Backend("postgres", url)
    finally:
        drop_pg_database(name)


@pytest.fixture
def definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small definition set (roles worker/technician, teams, org units) in GONGDAN_DEFINITIONS."""
    root = tmp_path / "definitions"
    root.mkdir()
    for name, text in DEFINITIONS.items():
        (root / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("GONGDAN_DEFINITIONS", str(root))
    return root


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

