"""SQLite for the server: reused connections, statements run on the event loop's own thread.

Piccolo's SQLite engine opens a fresh connection (and so a fresh aiosqlite worker thread) for
every query outside a transaction and for every transaction, and repeats ``PRAGMA foreign_keys``
before every statement. This engine keeps a few connections open, set up once.

It also runs each statement directly, without a worker thread. A statement of a request takes
microseconds (an index probe, an insert); with aiosqlite each one cost three hand-offs to the
connection's thread (~110 µs on an idle machine, far more under load, where the threads and the
event loop queue for the GIL). Running on the loop, a write transaction of a create holds
SQLite's write lock for a few hundred microseconds instead of milliseconds.

Blocking the loop is never allowed to wait for another task: connections have no busy timeout.
A statement that finds the database locked (another process writes, or another connection of
this process is inside a transaction) fails at once with ``SQLITE_BUSY``, and when retrying is
safe — it is not inside a transaction of its own, so it did nothing — it is retried after an
``asyncio.sleep`` with back-off, for up to the engine's ``timeout``. This process's own writers
queue on an in-process lock (:mod:`~engine.runtime.storage.transaction`) before ``BEGIN
IMMEDIATE``.

Each connection runs WAL with ``synchronous=NORMAL``: a commit survives a crash of the process;
only a power loss can drop the last transactions, which is SQLite's recommended setting for WAL.

Checkpoints (copying committed pages from the WAL into the database file, with an ``fsync``) do
not run inside a committing request, where SQLite's automatic checkpoint would put them and stall
the event loop for milliseconds: the engine's connections turn ``wal_autocheckpoint`` off and a
background thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` every :data:`CHECKPOINT_EVERY` seconds
on a connection of its own. A passive checkpoint never blocks readers or the writer, and the WAL
stays the durable record of every commit until it is copied, so durability is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Generator, Sequence
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, dict_factory
from piccolo.table import Table

__all__ = ["PooledSQLiteEngine", "SyncConnection"]

_IDLE = 8  # connections kept open between uses
_FIRST_BACKOFF = 0.0005  # seconds; doubles up to _MAX_BACKOFF
_MAX_BACKOFF = 0.02
CHECKPOINT_EVERY = 0.5  # seconds between background checkpoints


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


class _Cursor:
    """An sqlite3 cursor behind aiosqlite's async cursor methods (Piccolo's transactions use them)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def close(self) -> None:
        self._cursor.close()

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()


class _Statement:
    """``await conn.execute(…)`` and ``async with conn.execute(…) as cursor``, as with aiosqlite."""

    def __init__(self, conn: SyncConnection, sql: str, parameters: Sequence[Any]) -> None:
        self._conn, self._sql, self._parameters = conn, sql, parameters
        self._cursor: _Cursor | None = None

    def __await__(self) -> Generator[Any, None, _Cursor]:
        return self._conn._execute(self._sql, self._parameters).__await__()

    async def __aenter__(self) -> _Cursor:
        self._cursor = await self._conn._execute(self._sql, self._parameters)
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


# Pages a connection keeps in memory, and how much of the file it reads through a memory map
# rather than read() calls. SQLite's default cache is 2 MB: with 1,000,000 tickets a create
# touches index pages all over the file (by assignee, org unit, type, team…), and a list walks a
# few hundred index entries; both then read most pages back from the operating system.
CACHE_KIB = 16384  # per connection; the pool keeps at most 16 idle (8 for writes, 8 for reads)
MMAP_BYTES = 1 << 30


def _tune(raw: sqlite3.Connection) -> None:
    raw.execute("PRAGMA foreign_keys = 1")
    raw.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    raw.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")


class SyncConnection:
    """An sqlite3 connection with aiosqlite's async surface; every call runs on the caller's thread."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self.raw = conn
        self.busy_timeout = busy_timeout

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    @property
    def row_factory(self) -> Any:
        return self.raw.row_factory

    @row_factory.setter
    def row_factory(self, value: Any) -> None:
        self.raw.row_factory = value

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Statement:
        return _Statement(self, sql, parameters)

    async def _execute(self, sql: str, parameters: Sequence[Any]) -> _Cursor:
        return _Cursor(await self.run(self.raw.execute, sql, parameters))

    async def run(self, call: Any, *args: Any) -> Any:
        """``call(*args)`` now; on ``SQLITE_BUSY`` outside a transaction, again after a pause."""
        deadline = 0.0
        pause = _FIRST_BACKOFF
        while True:
            retryable = not self.raw.in_transaction
            try:
                return call(*args)
            except sqlite3.OperationalError as exc:
                if not (retryable and _is_busy(exc)):
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.busy_timeout
                elif now >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_BACKOFF)

    def fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Run a statement inside the caller's transaction and return its rows (no busy retry)."""
        cursor = self.raw.execute(sql, parameters)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    async def commit(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("COMMIT")

    async def rollback(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    async def close(self) -> None:
        self.raw.close()


class _Lease:
    """A pooled connection as Piccolo's transaction sees it: closing it hands it back."""

    def __init__(self, engine: PooledSQLiteEngine, conn: SyncConnection) -> None:
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_conn", conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._conn, name, value)

    @property
    def sync(self) -> SyncConnection:
        conn: SyncConnection = self._conn
        return conn

    async def close(self) -> None:
        self._engine._release(self._conn)


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, with open connections reused and statements run without a thread."""

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self._idle: list[SyncConnection] = []
        self._plain_idle: list[sqlite3.Connection] = []
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()

    def _open(self) -> SyncConnection:
        if self._idle:
            return self._idle.pop()
        kwargs = dict(self.connection_kwargs)
        busy_timeout = float(kwargs.pop("timeout", 5.0))
        # No busy timeout inside SQLite: a wait there would block the event loop (see the module doc).
        raw = sqlite3.connect(**kwargs, timeout=0, check_same_thread=False)
        raw.row_factory = dict_factory
        _tune(raw)
        raw.execute("PRAGMA synchronous = NORMAL")
        raw.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it
        if self._checkpointer is None or not self._checkpointer.is_alive():
            self._stop.clear()
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="sqlite-checkpoint",
                                                  daemon=True)
            self._checkpointer.start()
        return SyncConnection(raw, busy_timeout)

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, timeout=float(self.connection_kwargs.get("timeout", 5.0)),
                               isolation_level=None)
        try:
            while not self._stop.wait(CHECKPOINT_EVERY):
                with contextlib.suppress(sqlite3.Error):  # e.g. the file is being removed: try again later
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass
        finally:
            conn.close()

    def stop_checkpointer(self) -> None:
        """End the background checkpoints (after a last one)."""
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
            self._checkpointer = None

    def _release(self, conn: SyncConnection) -> None:
        if conn.raw.in_transaction:  # never hand out a connection in an unknown state
            conn.raw.rollback()
        if len(self._idle) < _IDLE:
            self._idle.append(conn)
        else:
            conn.raw.close()

    async def close_idle(self) -> None:
        """Close every idle connection (at shutdown, and before the database file is removed)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.raw.close()
        plain, self._plain_idle = self._plain_idle, []
        for raw in plain:
            raw.close()
        self.stop_checkpointer()

    async def get_connection(self) -> Any:  # used by Piccolo's transactions
        return _Lease(self, self._open())

    def transaction_connection(self) -> SyncConnection | None:
        """The connection of the current task's transaction, if it is inside one."""
        current = self.current_transaction.get()
        return None if current is None else current.connection.sync

    async def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Rows of one statement: in the current transaction, or on a pooled connection (with busy retry)."""
        current = self.current_transaction.get()
        if current is not None:
            rows: list[Any] = current.connection.sync.fetchall(sql, parameters)
            return rows
        conn = self._open()
        try:
            cursor = await conn.run(conn.raw.execute, sql, parameters)
            try:
                rows = cursor.fetchall()
                return rows
            finally:
                cursor.close()
        finally:
            self._release(conn)

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """One statement for each parameter row, inside the current transaction; rows changed in all."""
        current = self.current_transaction.get()
        if current is None:
            raise RuntimeError("execute_many runs inside a transaction only")
        raw: sqlite3.Connection = current.connection.sync.raw
        return raw.executemany(sql, rows).rowcount

    async def fetch_plain(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as tuples of SQLite's own values (no type conversion), for hot reads outside a transaction.

        Piccolo's converters (every INTEGER and TIMESTAMPTZ value passes through a Python function)
        cost more than the query on a list page; the caller converts what it needs.
        """
        if self.current_transaction.get() is not None:
            raise RuntimeError("fetch_plain runs outside transactions only")
        raw = self._plain_idle.pop() if self._plain_idle else None
        if raw is None:
            raw = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            _tune(raw)
        conn = SyncConnection(raw, float(self.connection_kwargs.get("timeout", 5.0)))
        try:
            cursor = await conn.run(raw.execute, sql, parameters)
            try:
                rows: list[tuple[Any, ...]] = cursor.fetchall()
                return rows
            finally:
                cursor.close()
        finally:
            if raw.in_transaction:
                raw.rollback()
            if len(self._plain_idle) < _IDLE:
                self._plain_idle.append(raw)
            else:
                raw.close()

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table: type[Table] | None = None
    ) -> Any:
        return await self.fetch(query, args or [])

    async def _run_in_existing_connection(
        self,
        connection: Any,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: type[Table] | None = None,
    ) -> Any:
        return connection.sync.fetchall(query, args or [])
