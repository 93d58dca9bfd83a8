"""Single-statement writes on PostgreSQL, pipelined and committed together.

A plain create on PostgreSQL is one INSERT statement (the ticket, its events, outbox and SLA
rows: see :mod:`.tickets`), a transaction of its own. Most of such a small transaction's cost is
the transaction itself — its commit record and WAL flush, its snapshot — and, in the server,
one round trip each. Statements that arrive while a batch is open are sent together as one
pipeline (asyncpg ``fetchmany``) inside one transaction with one COMMIT (measured on the create
statement: PostgreSQL's CPU per ticket 0.49 → ~0.3 ms under 16 concurrent requests).

- The batch waits while statements keep coming: two turns of the event loop without a new one,
  4 ms or 64 statements at most (:mod:`.arrivals`, the same rule as SQLite's write groups).
- One batch of a statement runs at a time: a batch that is ready while the one before it is
  still in PostgreSQL goes on taking statements until that one ends (at most :data:`FOLLOW`
  seconds, or until it has 64). Two batches of the create statement at once contend for the same
  index pages and take as long each as one batch of both (8 + 8 creates in parallel: 2.1 ms
  each; 16 in one: 2.2 ms). Waiting instead lets the server work on the requests that arrive
  while PostgreSQL works on the batch before them: under 16 concurrent creates the clients fall
  into two groups that take turns, rather than all waiting for one batch and then all being
  served by the event loop while PostgreSQL idles (creates/s +10 %, see docs/benchmarks.md).
- Every caller gets its own statement's row, and only after the COMMIT.
- Statements run in the order of their ``order`` key (the new ticket's assignee): the open-ticket
  counters their trigger updates are then locked in one order by every batch, so two batches —
  of this process or another — never deadlock.
- If the batch fails, it is rolled back and every statement runs again on its own, so one bad
  statement fails only its own caller, with nothing written.

Inside a transaction, on SQLite, or without a pool, a statement simply runs where it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from .arrivals import MOST, while_joining
from .database import current_engine
from .loops import running_loop
from .sql import compile_sql, fetch

__all__ = ["fetch_one_batched"]


FOLLOW = 0.010  # seconds a ready batch waits for the one before it to end


class _Batch:
    def __init__(self, sql: str, previous: _Batch | None, loop: asyncio.AbstractEventLoop) -> None:
        self.sql = sql
        self.items: list[tuple[int, Sequence[Any], asyncio.Future[Mapping[str, Any]]]] = []
        self.previous = previous  # the batch of the same statement before this one
        self.ended: asyncio.Future[None] = loop.create_future()  # its statements have their answers
        self.sender: asyncio.Task[None] | None = None


class _Statement:
    """The batches of one statement text: the one taking statements, and the newest of all."""

    def __init__(self) -> None:
        self.open: _Batch | None = None
        self.last: _Batch | None = None


# (engine, event loop) -> statement text -> its batches
_STATEMENTS: dict[tuple[int, int], dict[str, _Statement]] = {}


async def fetch_one_batched(sql: str, args: Sequence[Any], order: int = 0) -> Mapping[str, Any]:
    """The one row a write statement (``{}`` placeholders) returns, run in a batch with others."""
    engine = current_engine()
    if not isinstance(engine, PostgresEngine) or engine.pool is None or engine.current_transaction.get() is not None:
        return (await fetch(sql, *args))[0]
    loop = running_loop()
    key = (id(engine), id(loop))
    if key not in _STATEMENTS and len(_STATEMENTS) > 64:  # engines and loops of finished tests
        _STATEMENTS.clear()
    statement = _STATEMENTS.setdefault(key, {}).setdefault(sql, _Statement())
    batch = statement.open
    if batch is None:
        batch = statement.open = statement.last = _Batch(sql, statement.last, loop)
        batch.sender = loop.create_task(_send_soon(engine, statement, batch))
    future: asyncio.Future[Mapping[str, Any]] = loop.create_future()
    batch.items.append((order, args, future))
    if len(batch.items) >= MOST:
        statement.open = None  # full: statements from now on start the next batch
    return await future


async def _send_soon(engine: PostgresEngine, statement: _Statement, batch: _Batch) -> None:
    try:
        await while_joining(lambda: len(batch.items))
        previous = batch.previous
        if previous is not None and not previous.ended.done() and statement.open is batch:
            await asyncio.wait([previous.ended], timeout=FOLLOW)  # still taking statements meanwhile
        batch.previous = None
        if statement.open is batch:
            statement.open = None  # statements from now on start the next batch
        items = sorted(batch.items, key=lambda item: item[0])
        try:
            rows = await _run(engine, batch.sql, [args for _, args, _ in items])
        except Exception:
            await _one_by_one(batch.sql, items)
            return
        for (_, _, future), row in zip(items, rows, strict=True):
            if not future.done():
                future.set_result(row)
    finally:
        batch.ended.set_result(None)


async def _run(engine: PostgresEngine, sql: str, rows: list[Sequence[Any]]) -> list[Mapping[str, Any]]:
    assert engine.pool is not None
    query = compile_sql(sql, True)
    async with engine.pool.acquire() as conn, conn.transaction():
        result: list[Mapping[str, Any]] = await conn.fetchmany(query, rows)
    if len(result) != len(rows):
        raise RuntimeError(f"a batched statement returned {len(result)} rows for {len(rows)} runs")
    return result


async def _one_by_one(sql: str, items: list[tuple[int, Sequence[Any], asyncio.Future[Mapping[str, Any]]]]) -> None:
    """The batch failed and was rolled back: each statement on its own, each caller its own answer."""
    for _, args, future in items:
        if future.done():
            continue
        try:
            future.set_result((await fetch(sql, *args))[0])
        except Exception as exc:
            future.set_exception(exc)
