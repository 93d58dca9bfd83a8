"""One transaction on whichever engine is bound; queries inside it join it automatically.

On the server's SQLite engine (:class:`~engine.runtime.storage.sqlite_pool.PooledSQLiteEngine`)
concurrent write transactions are committed in groups. SQLite has one writer at a time, and most
of the cost of a small write transaction is its commit: writing every page it touched (the
ticket's table and index pages, the search index) to the WAL. Requests that are ready to write at
the same moment run one after the other inside one SQLite transaction, each in a savepoint of its
own, and one COMMIT ends them all:

- a request's block runs while it holds the in-process writer lock, as before, so blocks never
  interleave; its savepoint is released when the block succeeds and rolled back when it raises,
  so a failing request undoes only its own writes;
- the first request of a group schedules the commit; it waits while requests keep joining (two
  turns of the event loop without a new member, 4 ms or 64 members at most: see
  :mod:`.arrivals`);
- every request waits for that COMMIT before :func:`transaction` returns: nothing is reported as
  done before it is durable (to the same degree as any commit: WAL, ``synchronous=NORMAL``). If
  the COMMIT fails, every request of the group gets the error.

A request sees the uncommitted writes of the requests before it in its group, as it would see
them committed had they run a moment earlier; other connections (reads outside a transaction)
see the group's writes together, at its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from .arrivals import while_joining
from .database import current_engine
from .loops import running_loop
from .search import INDEX_BATCH, INDEX_DELAY, INDEX_NEW_TICKETS, NEW_TICKETS_BACKLOG
from .sqlite_pool import PooledSQLiteEngine, SyncConnection

__all__ = ["in_transaction", "transaction"]


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """Run the block in one transaction: commit on success, roll back on any exception.

    Nested use joins the outer transaction (an exception anywhere rolls back all of it).
    On SQLite the write lock is taken up front (``BEGIN IMMEDIATE``): a read-then-write
    transaction that upgrades its lock later can fail with "database is locked" instead of
    waiting its turn.
    """
    engine = current_engine()
    if isinstance(engine, PooledSQLiteEngine):
        if engine.current_transaction.get() is not None:  # nested: join the outer one
            yield
            return
        async with _grouped(engine):
            yield
    elif isinstance(engine, SQLiteEngine):
        if engine.current_transaction.get() is not None:  # nested: join the outer one
            async with engine.transaction(transaction_type=TransactionType.immediate):
                yield
            return
        # SQLite has one writer at a time. Queue this process's writers here, in order, instead of
        # letting them spin in SQLite's busy handler, whose back-off sleeps make a long tail.
        async with _writer(engine).lock, engine.transaction(transaction_type=TransactionType.immediate) as tx:
            yield
            await _index_new_tickets(engine, tx.connection)
    else:
        async with engine.transaction():
            yield


class _Group:
    """Write transactions committed together: one SQLite transaction on one pooled connection."""

    def __init__(self, lease: Any, done: asyncio.Future[None]) -> None:
        self.lease = lease
        self.conn: SyncConnection = lease.sync
        self.done = done
        self.savepoints = 0


class _GroupTransaction:
    """What Piccolo's queries look for in ``engine.current_transaction``: the connection to use."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection


class _Writer:
    """The writers of one database file in one event loop: their lock and the open group."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.group: _Group | None = None
        self.indexed_at = time.monotonic()  # of the last search-index step


# (database path, event loop) -> writer state; tests run several loops and engines in one process.
_WRITERS: dict[tuple[str, int], _Writer] = {}


def _writer(engine: SQLiteEngine) -> _Writer:
    """One writer state per database file and event loop."""
    key = (str(engine.path), id(running_loop()))
    writer = _WRITERS.get(key)
    if writer is None:
        if len(_WRITERS) > 64:  # loops of finished tests
            _WRITERS.clear()
        writer = _WRITERS[key] = _Writer()
    return writer


# Each request of a group runs in a savepoint, and SQLite journals every page a request changes
# (its original content) so that the request alone can be undone. It keeps that journal in memory
# up to 64 KiB and writes the rest to a temporary file, with pwrite() on the event loop; a create
# changes some twenty pages. While a group lasts its connection keeps temporary files in memory
# (create on a fresh database: 0.78 -> 0.68 ms of server CPU). Other uses of the connection get
# the default back, where a large sort spills to disk instead of growing the process (1,000,000
# tickets sorted by their text: 46 MB resident against 320 MB in memory).
_TEMP_IN_MEMORY = "PRAGMA temp_store = MEMORY"
_TEMP_DEFAULT = "PRAGMA temp_store = DEFAULT"


async def _open_group(engine: PooledSQLiteEngine, writer: _Writer) -> _Group:
    lease = await engine.get_connection()
    raw = lease.sync.raw
    try:
        raw.execute(_TEMP_IN_MEMORY)
        await lease.execute("BEGIN IMMEDIATE")
    except BaseException:
        _temp_default(raw)
        await lease.close()
        raise
    loop = running_loop()
    group = _Group(lease, loop.create_future())
    writer.group = group
    loop.create_task(_commit_soon(writer, group))
    return group


async def _commit_soon(writer: _Writer, group: _Group) -> None:
    """Commit the group once the requests on their way have joined it (see :mod:`.arrivals`)."""
    await while_joining(lambda: group.savepoints)
    async with writer.lock:
        if writer.group is group:
            writer.group = None
        try:
            if not group.conn.in_transaction:
                raise RuntimeError("the write transaction was rolled back by the database")
            conn = group.conn
            backlog = conn.fetchall(NEW_TICKETS_BACKLOG)[0]["backlog"]
            now = time.monotonic()
            if backlog >= INDEX_BATCH or (backlog > 0 and now - writer.indexed_at >= INDEX_DELAY):
                for sql in INDEX_NEW_TICKETS:
                    conn.fetchall(sql)
                writer.indexed_at = now
            await conn.commit()
        except BaseException as exc:
            await group.conn.rollback()
            if not group.done.done():
                group.done.set_exception(exc)
                group.done.exception()  # retrieved here: members that already failed never await it
        else:
            if not group.done.done():
                group.done.set_result(None)
        finally:
            _temp_default(group.conn.raw)
            await group.lease.close()


def _temp_default(raw: sqlite3.Connection) -> None:
    if not raw.in_transaction:  # (the pool rolls back a connection handed back inside one)
        with contextlib.suppress(sqlite3.Error):
            raw.execute(_TEMP_DEFAULT)


@asynccontextmanager
async def _grouped(engine: PooledSQLiteEngine) -> AsyncIterator[None]:
    writer = _writer(engine)
    failure: Exception | None = None
    async with writer.lock:
        group = writer.group
        if group is None or not group.conn.in_transaction:
            group = await _open_group(engine, writer)
        group.savepoints += 1
        savepoint = f"w{group.savepoints}"
        raw = group.conn.raw
        raw.execute(f"SAVEPOINT {savepoint}")
        token = engine.current_transaction.set(_GroupTransaction(group.lease))  # type: ignore[arg-type]
        try:
            yield
        except BaseException as exc:
            if raw.in_transaction:
                raw.execute(f"ROLLBACK TO {savepoint}")
                raw.execute(f"RELEASE {savepoint}")
            if not isinstance(exc, Exception):
                raise
            failure = exc
        else:
            raw.execute(f"RELEASE {savepoint}")
        finally:
            engine.current_transaction.reset(token)
    if failure is not None:
        # What the caller does next (e.g. read the ticket an idempotent retry names) must see the
        # writes of the requests before it in the group: wait for the group's end, whatever it is.
        await asyncio.wait([group.done])
        raise failure
    await asyncio.shield(group.done)


async def _index_new_tickets(engine: SQLiteEngine, connection: Any) -> None:
    """Add the tickets this transaction created to the search index (see storage.search)."""
    rows = await engine._run_in_existing_connection(connection, NEW_TICKETS_BACKLOG)
    if rows[0]["backlog"] > 0:
        for sql in INDEX_NEW_TICKETS:
            await engine._run_in_existing_connection(connection, sql)


def in_transaction() -> bool:
    """Whether the current task is inside :func:`transaction`."""
    return current_engine().current_transaction.get() is not None
