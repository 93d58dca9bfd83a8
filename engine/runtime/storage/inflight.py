"""Routing reads on PostgreSQL: assignments decided but not yet committed, and shared reads.

Routing reads each candidate's open-ticket count and newest assignment, decides in Python, and
the ticket is written by a later statement. On SQLite the read runs inside the process's one
write transaction and sees every earlier create, committed or not. On PostgreSQL creates run
concurrently and a read sees committed rows only: a burst of creates that all read before any
of them commits would all pick the same least-loaded (or next round-robin) person.

So this process remembers each assignment it decides, from the moment it is decided
(:class:`Claims`), and a routing read counts the ones its snapshot cannot contain: those not
committed yet and those committed after the read began. Each counts as one more open ticket and
as the newest assignment of its user, in the order decided. Assignments of other server
processes are seen once they commit, as before.

Identical routing reads that overlap (same candidates asked for while the first is on its way)
share one query: the later ones see the database as of the first one's start plus the
assignments decided since, which is what they would have seen had they arrived a moment
earlier.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from .database import current_engine, is_postgres
from .loops import running_loop

__all__ = ["Claims", "claims", "counted_read"]

NEWEST = 1 << 52  # above every ticket id: a claimed user is the most recently assigned one


@dataclass
class _Entry:
    user_id: int
    order: int
    committed_at: float | None = None  # time.monotonic(); None: not committed yet


@dataclass
class _Ledger:
    entries: list[_Entry] = field(default_factory=list)
    decided: int = 0
    # identical reads under way: their start and their rows to come
    reads: dict[tuple[Any, ...], tuple[float, asyncio.Future[Sequence[Mapping[str, Any]]]]] = field(
        default_factory=dict)
    reading: Counter[float] = field(default_factory=Counter)  # start times of the reads under way

    def prune(self) -> None:
        """Forget the committed assignments every read under way sees in its own snapshot."""
        oldest = min(self.reading) if self.reading else float("inf")
        self.entries = [e for e in self.entries if e.committed_at is None or e.committed_at > oldest]


_LEDGERS: weakref.WeakKeyDictionary[Any, _Ledger] = weakref.WeakKeyDictionary()


def _ledger() -> _Ledger:
    engine = current_engine()
    ledger = _LEDGERS.get(engine)
    if ledger is None:
        ledger = _LEDGERS[engine] = _Ledger()
    return ledger


class Claims:
    """The assignments one write decides; they count until it commits, or go when it fails."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._ledger: _Ledger | None = None

    def add(self, user_id: int) -> None:
        if not is_postgres():
            return  # SQLite's routing reads see every earlier write of the process
        ledger = self._ledger = self._ledger or _ledger()
        ledger.decided += 1
        entry = _Entry(user_id, ledger.decided)
        ledger.entries.append(entry)
        self._entries.append(entry)

    def _end(self, committed: bool) -> None:
        if self._ledger is None or not self._entries:
            return
        if committed:
            now = time.monotonic()
            for entry in self._entries:
                entry.committed_at = now
        else:
            gone = {id(e) for e in self._entries}
            self._ledger.entries = [e for e in self._ledger.entries if id(e) not in gone]
        self._entries = []
        self._ledger.prune()


@asynccontextmanager
async def claims() -> AsyncIterator[Claims]:
    """Claims of the block: they count as committed when it ends normally, and vanish if it raises.

    Wrap the whole write (outside its transaction), so that its end is the commit.
    """
    held = Claims()
    try:
        yield held
    except BaseException:
        held._end(False)
        raise
    held._end(True)


async def counted_read(key: tuple[Any, ...], read: Callable[[], Awaitable[Sequence[Mapping[str, Any]]]],
                       shared: bool) -> Sequence[Mapping[str, Any]]:
    """Rows of a routing read (``id``, ``open_count``, ``last_assigned`` columns) with this process's
    assignments the read cannot see added; ``shared``: an identical read under way is joined."""
    if not is_postgres():
        return await read()  # the read sees every earlier write of the process (see above)
    ledger = _ledger()
    joined = ledger.reads.get(key) if shared else None
    started = joined[0] if joined is not None else time.monotonic()
    ledger.reading[started] += 1  # until counted, the assignments committed since stay known
    try:
        if joined is not None:
            try:
                rows = await asyncio.shield(joined[1])
            except asyncio.CancelledError:
                if not joined[1].cancelled():
                    raise  # this request was cancelled
                return await counted_read(key, read, shared=False)  # the shared read failed
        elif shared:
            future: asyncio.Future[Sequence[Mapping[str, Any]]] = running_loop().create_future()
            ledger.reads[key] = (started, future)
            try:
                rows = await read()
            except BaseException:
                future.cancel()  # those who joined read for themselves
                raise
            finally:
                if ledger.reads.get(key, (0.0, None))[1] is future:
                    del ledger.reads[key]
            future.set_result(rows)
        else:
            rows = await read()
        return _counted(ledger, started, rows)
    finally:
        ledger.reading[started] -= 1
        if ledger.reading[started] <= 0:
            del ledger.reading[started]
        ledger.prune()


def _counted(ledger: _Ledger, started: float, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows]
    if not ledger.entries:
        return out
    by_id = {int(r["id"]): r for r in out}
    for entry in ledger.entries:
        row = by_id.get(entry.user_id)
        if row is None or (entry.committed_at is not None and entry.committed_at <= started):
            continue
        row["open_count"] = int(row["open_count"] or 0) + 1
        row["last_assigned"] = NEWEST + entry.order
    return out
