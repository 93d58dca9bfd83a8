"""The SLA sweep's reads and writes: claim the tickets whose next SLA instant has come, write back
the fired thresholds with their events in a few set-based statements.

Claiming runs inside the caller's transaction. PostgreSQL locks the claimed rows with
``FOR UPDATE SKIP LOCKED``, so several workers split the due tickets between them; SQLite's
transaction holds the database's single write lock. The write-back is guarded by the row version
the sweep read as well, so a ticket that changed meanwhile is left for the next sweep instead of
being judged on stale clocks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .database import is_postgres
from .sql import execute_many, fetch, sqlite_time
from .tickets import NewEvent, add_outbox_events

__all__ = ["DueTicket", "SlaUpdate", "claim_due", "write_sweep"]


@dataclass(frozen=True)
class DueTicket:
    """What the sweep needs of a ticket whose next SLA instant has come."""

    id: int
    type: str
    state: str
    priority: str
    team: str | None
    assignee_id: int | None
    org_unit: str | None
    created_at: datetime
    row_version: int
    definition_version: str
    sla: str | Mapping[str, Any]  # the column's JSON text (PostgreSQL and SQLite both give text)
    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None


@dataclass(frozen=True)
class SlaUpdate:
    """The sweep's write for one ticket; ``bump`` when people-visible columns changed."""

    id: int
    row_version: int
    sla: str  # JSON
    sla_next_at: datetime | None
    priority: str
    team: str | None
    assignee_id: int | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    bump: bool
    events: Sequence[NewEvent]


_CLAIM = (
    "SELECT t.id, t.type, t.state, t.priority, t.team, t.assignee_id, t.org_unit, t.created_at, t.row_version, "
    "t.definition_version, t.sla, t.response_due_at, t.resolution_due_at "
    "FROM sla_due d JOIN tickets t ON t.id = d.ticket_id WHERE d.next_at <= {} ORDER BY d.next_at LIMIT {}"
)


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


_CHANGEABLE = ("priority", "team", "assignee_id", "response_due_at", "resolution_due_at")


async def _sqlite_write(updates: Sequence[SlaUpdate], enc: Sequence[str], before: Sequence[DueTicket],
                        at: str | None) -> list[Mapping[str, Any]]:
    """SQLite: one UPDATE per ticket by primary key, setting only the columns whose value changes
    (each indexed column set costs an index update), run as few prepared statements as there are
    shapes of change; an UPDATE … FROM a VALUES list would be planned as a scan of ``tickets``.

    The sweep's transaction holds SQLite's write lock from the claim on, so every ticket is still at
    the version read; the row-version guard stays as a check.
    """
    seen = {t.id: t for t in before}
    groups: dict[tuple[tuple[str, ...], bool], list[tuple[Any, ...]]] = {}
    for u, sla in zip(updates, enc, strict=True):
        was = seen.get(u.id)
        changed = tuple(c for c in _CHANGEABLE if was is None or getattr(u, c) != getattr(was, c))
        values = [sqlite_time(v) if isinstance(v := getattr(u, c), datetime) else v for c in changed]
        groups.setdefault((changed, u.bump), []).append(
            (sla, *values, *((at,) if u.bump else ()), u.id, u.row_version))
    expected = 0
    changed_rows = 0
    for (changed, bump), params in groups.items():
        sets = ["sla = {}", *(f"{c} = {{}}" for c in changed)]
        if bump:
            sets += ["row_version = row_version + 1", "updated_at = {}"]
        changed_rows += await execute_many(
            f"UPDATE tickets SET {', '.join(sets)} WHERE id = {{}} AND row_version = {{}}", params)
        expected += len(params)
    if changed_rows != expected:  # cannot happen under the write lock: undo the batch rather than guess
        raise RuntimeError(f"SLA sweep: {expected - changed_rows} tickets changed under the write lock")
    written = list(updates)
    await execute_many("DELETE FROM sla_due WHERE ticket_id = {}",
                       [(u.id,) for u in written if u.sla_next_at is None])
    await execute_many("UPDATE sla_due SET next_at = {} WHERE ticket_id = {}",
                       [(sqlite_time(u.sla_next_at), u.id) for u in written if u.sla_next_at is not None])
    return [{"id": u.id} for u in written]


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


async def claim_due(now: datetime, limit: int) -> list[DueTicket]:
    """Tickets whose next SLA instant is at or before ``now``, earliest first (in a transaction)."""
    postgres = is_postgres()
    sql = _CLAIM + (" FOR UPDATE OF d, t SKIP LOCKED" if postgres else "")
    rows = await fetch(sql, now if postgres else sqlite_time(now), limit)
    out = []
    for r in rows:
        sla = r["sla"]
        out.append(DueTicket(
            id=r["id"], type=r["type"], state=r["state"], priority=r["priority"], team=r["team"],
            assignee_id=r["assignee_id"], org_unit=r["org_unit"], created_at=_time(r["created_at"]),
            row_version=r["row_version"], definition_version=r["definition_version"], sla=sla or {},
            response_due_at=_maybe_time(r["response_due_at"]), resolution_due_at=_maybe_time(r["resolution_due_at"]),
        ))
    return out


# Unchanged indexed columns are written with their old values: PostgreSQL compares values, so the
# update stays heap-only (no index entries) unless a due time, the team or the assignee changed.
_PG_UPDATE = (
    "UPDATE tickets SET sla = v.sla::jsonb, priority = v.priority, team = v.team, "
    "assignee_id = v.assignee_id, response_due_at = v.response_due, resolution_due_at = v.resolution_due, "
    "row_version = tickets.row_version + v.bump, "
    "updated_at = CASE WHEN v.bump = 1 THEN {} ELSE tickets.updated_at END "
    "FROM unnest({}::integer[], {}::integer[], {}::text[], {}::text[], {}::text[], "
    "{}::integer[], {}::timestamptz[], {}::timestamptz[], {}::integer[]) "
    "AS v(id, rv, sla, priority, team, assignee_id, response_due, resolution_due, bump) "
    "WHERE tickets.id = v.id AND tickets.row_version = v.rv RETURNING tickets.id"
)
_PG_DUE = (
    "UPDATE sla_due SET next_at = v.next_at FROM unnest({}::integer[], {}::timestamptz[]) AS v(id, next_at) "
    "WHERE sla_due.ticket_id = v.id"
)
_PG_EVENTS = (
    "INSERT INTO ticket_events (ticket_id, at, actor_id, kind, from_state, to_state, data) "
    "SELECT x.ticket_id, x.at, NULL, x.kind, NULL, NULL, x.data::jsonb FROM unnest({}::integer[], "
    "{}::timestamptz[], {}::text[], {}::text[]) WITH ORDINALITY AS x(ticket_id, at, kind, data, i) ORDER BY x.i "
    "RETURNING id"
)


async def write_sweep(updates: Sequence[SlaUpdate], now: datetime, before: Sequence[DueTicket] = ()) -> set[int]:
    """Write the sweep's changes of tickets still at the version read; the ids written.

    Events (and the outbox rows of those that notify) are written only for those tickets.
    ``before``: the tickets as claimed, so only changed columns are written (SQLite).
    """
    if not updates:
        return set()
    postgres = is_postgres()
    enc = [u.sla for u in updates]
    if postgres:
        cols: list[list[Any]] = [
            [u.id for u in updates], [u.row_version for u in updates], enc, [u.priority for u in updates],
            [u.team for u in updates], [u.assignee_id for u in updates],
            [u.response_due_at for u in updates], [u.resolution_due_at for u in updates],
            [int(u.bump) for u in updates],
        ]
        rows = await fetch(_PG_UPDATE, now, *cols)
        done = {int(r["id"]) for r in rows}
        moved = [u for u in updates if u.id in done and u.sla_next_at is not None]
        if moved:
            await fetch(_PG_DUE, [u.id for u in moved], [u.sla_next_at for u in moved])
        ended = [u.id for u in updates if u.id in done and u.sla_next_at is None]
        if ended:
            await fetch("DELETE FROM sla_due WHERE ticket_id = ANY({}::integer[])", ended)
    else:
        rows = await _sqlite_write(updates, enc, before, sqlite_time(now))
    written = {int(r["id"]) for r in rows}
    events = [(u.id, e) for u in updates if u.id in written for e in u.events]
    if not events:
        return written
    if postgres:
        inserted = await fetch(_PG_EVENTS, [t for t, _ in events], [e.at or now for _, e in events],
                               [e.kind for _, e in events], [json.dumps(dict(e.data)) for _, e in events])
    else:
        args: list[Any] = []
        for ticket_id, e in events:
            args.extend((ticket_id, sqlite_time(e.at or now), e.kind, json.dumps(dict(e.data))))
        values = ", ".join(["({}, {}, NULL, {}, NULL, NULL, {})"] * len(events))
        inserted = await fetch("INSERT INTO ticket_events (ticket_id, at, actor_id, kind, from_state, to_state, "
                               f"data) VALUES {values} RETURNING id", *args)
    ids = sorted(int(r["id"]) for r in inserted)
    await add_outbox_events(
        [(ticket_id, event_id) for event_id, (ticket_id, e) in zip(ids, events, strict=True) if e.notify], now
    )
    return written
