"""One transaction on whichever engine is bound; queries inside it join it automatically."""

from __future__ import annotations

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
        async with engine.transaction(transaction_type=TransactionType.immediate):
            yield
    else:
        async with engine.transaction():
            yield


def in_transaction() -> bool:
    """Whether the current task is inside :func:`transaction`."""
    return current_engine().current_transaction.get() is not None
