"""One transaction on whichever engine is bound; queries inside it join it automatically."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from .database import current_engine

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
    if isinstance(engine, SQLiteEngine):
        if engine.current_transaction.get() is not None:  # nested: join the outer one
            async with engine.transaction(transaction_type=TransactionType.immediate):
                yield
            return
        # SQLite has one writer at a time. Queue this process's writers here, in order, instead of
        # letting them spin in SQLite's busy handler, whose back-off sleeps make a long tail.
        async with _writer_lock(engine), engine.transaction(transaction_type=TransactionType.immediate):
            yield
    else:
        async with engine.transaction():
            yield


# (database path, event loop) -> lock; tests run several loops and engines in one process.
_LOCKS: dict[tuple[str, int], asyncio.Lock] = {}


def _writer_lock(engine: SQLiteEngine) -> asyncio.Lock:
    """One lock per database file and event loop."""
    key = (str(engine.path), id(asyncio.get_running_loop()))
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    return lock


def in_transaction() -> bool:
    """Whether the current task is inside :func:`transaction`."""
    return current_engine().current_transaction.get() is not None
