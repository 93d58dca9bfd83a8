"""SLA clocks for tickets raised before their type had them: replayed from each ticket's history.

``gongdan sla rebuild`` gives every unfinished ticket of a type with an SLA policy that has no
clocks yet the clocks it would have had: started when it was raised, paused and resumed by the
state changes its timeline records, met by its first response. Thresholds that passed before the
rebuild are marked as fired without events or notifications, so an upgrade does not flood anyone
with warnings about old tickets; the due columns still show them as overdue, and thresholds still
ahead fire as usual.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from . import slaclock, storage
from .storage.sql import fetch
from .storage.tables import Ticket

__all__ = ["rebuild_clocks"]

_OPEN = ("open", "active", "waiting")


async def rebuild_clocks(catalogs: Any, now: datetime, *, batch: int = 500) -> int:
    """Clocks for every unfinished ticket with an SLA type and none yet; how many tickets got them."""
    types = sorted(name for name, t in catalogs.current.types.items() if t.spec.sla)
    if not types:
        return 0
    done = 0
    after = 0
    while True:
        rows = await storage.ticket_select().where(
            (Ticket.id > after) & Ticket.type.is_in(types) & Ticket.state_category.is_in(list(_OPEN))
        ).order_by(Ticket.id).limit(batch).run()
        if not rows:
            return done
        after = rows[-1]["id"]
        for row in rows:
            ticket = storage.snapshot_from_row(row)
            if slaclock.load(ticket.sla):
                continue
            done += await _rebuild_one(catalogs, ticket, now)


async def _rebuild_one(catalogs: Any, ticket: Any, now: datetime) -> int:
    catalog = await catalogs.for_ticket(ticket)
    ctype = catalog.types.get(ticket.type)
    if ctype is None or ctype.spec.sla is None or ticket.created_at is None:
        return 0
    moves = await fetch("SELECT at, to_state FROM ticket_events WHERE ticket_id = {} AND kind = 'transition' "
                        "AND to_state IS NOT NULL ORDER BY id", ticket.id)
    # the ticket's state changes and its first response, in the order they happened
    steps: list[tuple[datetime, str | None]] = [
        (m["at"] if isinstance(m["at"], datetime) else datetime.fromisoformat(str(m["at"])), m["to_state"])
        for m in moves
    ]
    if ticket.first_response_at is not None:
        steps.append((ticket.first_response_at, None))
    steps.sort(key=lambda step: step[0])
    state = ctype.flow.initial
    clocks = slaclock.start(catalog, ticket.type, ticket.priority, state, ticket.created_at)
    for at, to_state in steps:
        state = to_state or state
        clocks = slaclock.advance(catalog, ticket.type, ticket.priority, state, clocks, at=at,
                                  responded=to_state is None)
    # what came due before now is history: mark it fired, without events
    _, fired, _ = slaclock.fire(catalog, ticket.type, ticket.priority, clocks, now)
    for f in fired:
        clock = clocks[f.target]
        if f.threshold == "warning":
            clocks[f.target] = replace(clock, warned_at=now)
        else:
            clocks[f.target] = replace(clock, warned_at=clock.warned_at or now, breached_at=now, due_at=f.due_at)
    cols = slaclock.columns(catalog, ticket.type, ticket.priority, clocks, created_at=ticket.created_at,
                            first_response_at=ticket.first_response_at)
    changes = cols.as_changes()
    async with storage.transaction():
        due = changes.pop("sla_next_at")
        await Ticket.update({Ticket._meta.get_column_by_name(k): v for k, v in changes.items()}).where(
            Ticket.id == ticket.id).run()
        await storage.set_sla_due(ticket.id, due)
    return 1
