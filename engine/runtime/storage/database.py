"""Which database the runtime talks to: chosen from a URL and bound to every table at run time.

SQLite is the embedded default (``$GONGDAN_DATA_DIR/gongdan.db``, ``./var`` unless set);
``DATABASE_URL=postgresql://…`` switches to PostgreSQL. :func:`configure` can be called again at
any time (tests switch engines inside one process); the last call wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from .sqlite_pool import PooledSQLiteEngine
from .tables import tables

__all__ = [
    "PICCOLO_CONF",
    "AnyEngine",
    "DatabaseConfigError",
    "bind",
    "configure",
    "current_engine",
    "data_dir",
    "database_url",
    "describe",
    "engine_for_url",
    "is_postgres",
]

PICCOLO_CONF = "engine.runtime.storage.piccolo_conf"
SQLITE_FILE = "gongdan.db"
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the lock before giving up

AnyEngine = Engine[Any]

_bound: AnyEngine | None = None


class DatabaseConfigError(ValueError):
    """``DATABASE_URL`` (or the data directory) cannot be used."""


class _Postgres(PostgresEngine):
    """PostgreSQL without Piccolo's connect-on-construction version probe.

    Piccolo opens a connection inside ``__init__`` only to log the server version; that makes
    building an engine block (or warn) before anyone needs the database. The first real query
    reports an unreachable server instead, with a message the CLI can show.
    """

    async def check_version(self) -> None:
        """Skip the probe; see the class docstring."""
        return None


def data_dir() -> Path:
    """Where the SQLite file and attachment blobs live: ``$GONGDAN_DATA_DIR`` or ``./var``."""
    return Path(os.environ.get("GONGDAN_DATA_DIR") or "var")


def database_url() -> str:
    """``$DATABASE_URL``, or the embedded SQLite file under the data directory."""
    url = os.environ.get("DATABASE_URL", "").strip()
    return url or f"sqlite:///{data_dir() / SQLITE_FILE}"


def _sqlite_path(url: str) -> Path:
    # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
    rest = url[len("sqlite:"):]
    if rest.startswith("///"):
        rest = rest[3:]
    elif rest.startswith("//"):
        raise DatabaseConfigError(f"{url}: use sqlite:///relative/path or sqlite:////absolute/path")
    if not rest:
        raise DatabaseConfigError(f"{url}: no database file given")
    return Path(unquote(rest))


def engine_for_url(url: str, *, pooled: bool = False) -> AnyEngine:
    """A Piccolo engine for ``postgresql://…`` or ``sqlite:///path``; makes the SQLite folder."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        if not parts.hostname and not parts.path.strip("/"):
            raise DatabaseConfigError(f"{describe(url)}: no host or database name")
        # Prepared statements keep PostgreSQL's default plan caching: after five executions a
        # statement may run on a generic plan instead of being planned again for every call (the
        # create statement: planning cost more than the insert itself). The few reads whose best
        # plan depends on the values (a search phrase, a person's queue, a report's range) ask for
        # a plan of their own: sql.fetch_rows(..., plan_per_call=True). No JIT: Gongdan's statements
        # are short, and a generic plan costed too high was JIT-compiled on every run (~280 ms).
        return _Postgres(config={"dsn": url, "server_settings": {"jit": "off"}})
    if scheme == "sqlite":
        path = _sqlite_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseConfigError(f"cannot create {path.parent}: {exc.strerror}") from exc
        if pooled:  # a server keeps connections open; short-lived commands and tests do not
            return PooledSQLiteEngine(path=str(path), timeout=SQLITE_BUSY_TIMEOUT)
        return SQLiteEngine(path=str(path), timeout=SQLITE_BUSY_TIMEOUT)
    raise DatabaseConfigError(
        f"DATABASE_URL {describe(url)!r} is not supported: use postgresql://… or sqlite:///path"
    )


def configure(url: str | None = None, *, pooled: bool = False) -> AnyEngine:
    """Build the engine for ``url`` (default :func:`database_url`) and bind every table to it."""
    engine = engine_for_url(url or database_url(), pooled=pooled)
    bind(engine)
    return engine


def bind(engine: AnyEngine) -> None:
    """Point every table, Piccolo's migration table and Piccolo's own engine lookup at ``engine``."""
    global _bound
    bound: tuple[type[Table], ...] = (*tables(), Migration)
    for table in bound:
        table._meta.db = engine
    # Migrations build throw-away table classes that find their engine through PICCOLO_CONF.
    os.environ["PICCOLO_CONF"] = PICCOLO_CONF
    _bound = engine


def current_engine() -> AnyEngine:
    """The bound engine; the first call without :func:`configure` binds one from the environment."""
    return _bound if _bound is not None else configure()


def is_postgres(engine: AnyEngine | None = None) -> bool:
    """Whether ``engine`` (default: the bound one) is PostgreSQL rather than SQLite."""
    return (engine or current_engine()).engine_type == "postgres"


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if not url.lower().startswith(("postgresql:", "postgres:")):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
