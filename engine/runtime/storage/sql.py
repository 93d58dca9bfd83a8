"""Hand-written SQL for the hot paths (create, list), on whichever engine is bound.

Piccolo stays in charge of the tables, the migrations and the many less frequent queries; the
statements a busy server runs for every request are written out once, with ``{}`` placeholders
(as in Piccolo's ``raw``), compiled once per engine to ``?`` or ``$n``, and run directly on the
connection of the current transaction, or on a pooled connection outside one. Building a Piccolo
query costs more Python than running the statement (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from .database import current_engine
from .sqlite_pool import PooledSQLiteEngine

__all__ = ["compile_sql", "execute_many", "fetch", "fetch_rows", "sqlite_time"]

_COMPILED: dict[tuple[str, bool], str] = {}


def compile_sql(sql: str, postgres: bool) -> str:
    """``{}`` placeholders as the engine spells them: ``$1, $2, …`` (PostgreSQL) or ``?`` (SQLite)."""
    key = (sql, postgres)
    done = _COMPILED.get(key)
    if done is None:
        if len(_COMPILED) > 2048:
            _COMPILED.clear()
        if postgres:
            parts = sql.split("{}")
            done = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], start=1))
        else:
            done = sql.replace("{}", "?")
        _COMPILED[key] = done
    return done


async def fetch(sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
    """Rows of one statement (``{}`` placeholders) in the current transaction, or on its own."""
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine):
        return await engine.fetch(compile_sql(sql, False), args)
    if isinstance(engine, PostgresEngine):
        query = compile_sql(sql, True)
        current = engine.current_transaction.get()
        if current is not None:
            return await current.connection.fetch(query, *args)  # type: ignore[no-any-return]
        if engine.pool is not None:
            async with engine.pool.acquire() as conn:
                return await conn.fetch(query, *args)  # type: ignore[no-any-return]
        return await engine._run_in_new_connection(query, list(args))  # type: ignore[no-any-return]
    assert isinstance(engine, SQLiteEngine)
    query = compile_sql(sql, False)
    in_tx = engine.current_transaction.get()
    if in_tx is not None:
        return await engine._run_in_existing_connection(in_tx.connection, query, list(args))  # type: ignore[no-any-return]
    return await engine._run_in_new_connection(query, list(args))  # type: ignore[no-any-return]


async def fetch_rows(sql: str, *args: Any, plan_per_call: bool = False) -> Sequence[Sequence[Any]]:
    """Rows of one read outside a transaction, by position, as cheaply as the engine gives them.

    PostgreSQL: asyncpg records (typed values). The server's SQLite engine: tuples of SQLite's own
    values (timestamps and JSON as text). Other SQLite engines: Piccolo's converted values.

    ``plan_per_call``: PostgreSQL plans the statement for these values, never with the generic plan
    it may keep for a prepared statement after five runs — for reads whose best plan depends on
    how selective the values are (a search phrase, one person's tickets, a report's range).
    """
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine) and engine.current_transaction.get() is None:
        return await engine.fetch_plain(compile_sql(sql, False), args)
    if plan_per_call and isinstance(engine, PostgresEngine):
        return await _fetch_custom_plan(engine, compile_sql(sql, True), args)
    rows = await fetch(sql, *args)
    if isinstance(engine, PostgresEngine):
        return rows  # type: ignore[return-value]
    return [tuple(r.values()) for r in rows]


_CUSTOM_PLAN = "SET LOCAL plan_cache_mode = force_custom_plan"


async def _fetch_custom_plan(engine: PostgresEngine, query: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
    """One read planned for its values: the setting lasts until the end of the (read) transaction."""
    current = engine.current_transaction.get()
    if current is not None:
        await current.connection.execute(_CUSTOM_PLAN)
        return await current.connection.fetch(query, *args)  # type: ignore[no-any-return]
    if engine.pool is None:  # a new connection plans its first runs of a statement for their values
        return await engine._run_in_new_connection(query, list(args))  # type: ignore[no-any-return]
    async with engine.pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(_CUSTOM_PLAN)
        return await conn.fetch(query, *args)  # type: ignore[no-any-return]


async def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """One write statement (``{}`` placeholders) per parameter row in the current transaction; the
    rows it changed in all. The server's SQLite engine runs them as one prepared statement."""
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine) and engine.current_transaction.get() is not None:
        return engine.execute_many(compile_sql(sql, False), rows)
    changed = 0
    for params in rows:
        changed += len(await fetch(f"{sql} RETURNING 1", *params))
    return changed


def sqlite_time(value: datetime | None) -> str | None:
    """A timestamp as Piccolo stores it in SQLite (UTC, ``str(datetime)``), so text order is time order."""
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return str(value)
