"""What a server process does with the database at start and stop."""

from __future__ import annotations

from typing import Any

from piccolo.engine.postgres import PostgresEngine

from .database import AnyEngine, configure
from .migrate import upgrade
from .sqlite_pool import PooledSQLiteEngine

__all__ = ["close_database", "open_database"]


async def open_database(url: str | None = None, *, pool: bool = True) -> AnyEngine:
    """Bind the engine for ``url`` (default from the environment), create or upgrade the schema,
    and on PostgreSQL open a connection pool. Returns the engine for :func:`close_database`.
    """
    engine = configure(url, pooled=pool)
    await upgrade()
    if pool and isinstance(engine, PostgresEngine) and engine.pool is None:
        await engine.start_connection_pool(reset=_keep_session)
    return engine


async def _keep_session(connection: Any) -> None:
    """What a pooled connection needs before its next use: nothing more than asyncpg always does.

    asyncpg rolls back a transaction left open and drops listeners on every release, and by
    default also sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` —
    one more round trip per query outside a transaction. Gongdan never changes session state:
    no ``SET`` (only ``SET LOCAL``, which ends with its transaction), no session advisory locks
    (migrations take a transaction lock), no ``LISTEN``, no cursors outside a transaction.
    """


async def close_database(engine: AnyEngine) -> None:
    """Close the pool :func:`open_database` opened (nothing to do for SQLite)."""
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()
    if isinstance(engine, PooledSQLiteEngine):
        await engine.close_idle()
