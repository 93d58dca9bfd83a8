"""The background worker: SLA sweeps, notification expansion and delivery, in one loop.

It runs inside ``gongdan serve`` by default (``GONGDAN_WORKER=0`` turns that off) and as
``gongdan worker`` for separate processes. Several workers may run against one PostgreSQL
database: every step claims its rows with ``FOR UPDATE SKIP LOCKED`` and writes its outcome
guarded by what it read, so nothing is done twice. On SQLite each step's transaction holds the
database's write lock, which makes a second worker wait rather than double up; one is enough.

Everything the worker does is kept in the database (SLA clocks on the tickets, outbox rows), so
a restart loses nothing: due work is found by the next sweep, an interrupted delivery is retried
when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .notify.channels import Deliverer
from .notify.outbox import DeliveryResult, Outbox
from .notify.settings import NotifySettings
from .sweep import SweepResult, sweep

__all__ = ["Worker", "WorkerRound", "worker_enabled"]

log = logging.getLogger("gongdan.worker")


def worker_enabled() -> bool:
    """Whether ``gongdan serve`` runs the worker in-process (``GONGDAN_WORKER``, default on)."""
    return (os.environ.get("GONGDAN_WORKER") or "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class WorkerRound:
    """What one round of the worker did."""

    sla: SweepResult
    expanded: int
    delivery: DeliveryResult

    @property
    def busy(self) -> bool:
        """Whether the round found work (then the next round starts at once)."""
        return bool(self.sla.tickets or self.expanded or self.delivery.sent or self.delivery.retried
                    or self.delivery.dead)


class Worker:
    """One worker: call :meth:`run_once` (tests, with an injected clock) or :meth:`run` (a loop)."""

    def __init__(self, catalogs: Any, settings: NotifySettings, *, clock: Callable[[], datetime] | None = None,
                 deliverer: Deliverer | None = None, poll_seconds: float | None = None) -> None:
        self.catalogs = catalogs
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.outbox = Outbox(catalogs, settings, deliverer)
        self.poll = poll_seconds if poll_seconds is not None else float(
            os.environ.get("GONGDAN_WORKER_POLL_SECONDS") or 1.0)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Start the next round now instead of after the poll interval."""
        self._wake.set()

    async def run_once(self, now: datetime | None = None) -> WorkerRound:
        """One round at ``now``: sweep SLAs, expand new events, deliver due messages."""
        now = now or self.clock()
        sla = await sweep(self.catalogs, now)
        expanded = 0
        for _ in range(50):  # bounded: a flood of events is expanded over several rounds
            n = await self.outbox.expand(now)
            expanded += n
            if n == 0:
                break
        delivery = await self.outbox.deliver(now)
        return WorkerRound(sla, expanded, delivery)

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop`` is set; a failing round is logged and retried after the poll interval."""
        while not stop.is_set():
            busy = False
            try:
                busy = (await self.run_once()).busy
            except Exception:  # the worker must outlive one bad round (database restart, a bug in a rule)
                log.exception("worker round failed")
            if busy:
                continue
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waiters, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    async def aclose(self) -> None:
        await self.outbox.aclose()
