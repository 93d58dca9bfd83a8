"""The SLA sweep: fire the warnings and breaches that have come due, with their actions.

One sweep claims the tickets whose ``sla_next_at`` has passed, in batches, each batch in one
transaction: for every ticket :func:`engine.runtime.slaclock.fire` decides which thresholds fire,
their actions raise the priority or move the ticket to another team's queue, and the ticket is
written back with an ``sla_warning`` / ``sla_breached`` event per threshold (plus
``priority_changed`` / ``assigned`` events for what the actions changed). The clocks record that
the threshold fired in the same write as its event, and the write only lands on the ticket
version that was read, so each threshold fires exactly once per ticket and target however many
workers sweep at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from engine.schema import Catalog

from . import slaclock, storage
from .notify.events import listened
from .plans import assigned_event, change
from .storage.sla_rows import DueTicket, SlaUpdate, claim_due, write_sweep
from .storage.tables import User

__all__ = ["SweepResult", "VersionedCatalogs", "sweep"]

_BATCH = 2000
_MAX_BATCHES = 1000  # a sweep is bounded; whatever is left waits for the next one


@dataclass
class SweepResult:
    """What one sweep did."""

    tickets: int = 0
    warnings: int = 0
    breaches: int = 0
    skipped: int = 0  # changed by someone else meanwhile; the next sweep looks again


class VersionedCatalogs(Protocol):
    """The catalogs tickets run under (the service's :class:`~engine.runtime.service.Catalogs`)."""

    async def for_version(self, version: str) -> Catalog: ...


def _decide(catalog: Catalog, t: DueTicket, now: datetime) -> tuple[SlaUpdate, int, int]:
    clocks, fired, timing = slaclock.fire(catalog, t.type, t.priority, slaclock.load(t.sla), now)
    events: list[storage.NewEvent] = []
    priority, team, assignee_id = t.priority, t.team, t.assignee_id
    warnings = breaches = 0
    for f in fired:
        kind = "sla_warning" if f.threshold == "warning" else "sla_breached"
        warnings += f.threshold == "warning"
        breaches += f.threshold == "breach"
        data: dict[str, Any] = {
            "target": f.target, "metric": f.metric, "threshold": f.threshold,
            "due_at": f.due_at.isoformat() if f.due_at else None,
        }
        notify = any(a.notify for a in f.actions) or listened(catalog, t.type, kind, data, None)
        events.append(storage.NewEvent(kind=kind, data=data, at=now, notify=notify))
        raised = slaclock.raised_priority(priority, f.actions)
        if raised != priority:
            events.append(storage.NewEvent(kind="priority_changed", at=now, data={
                "priority": change(priority, raised), "sla": f.target}))
            priority = raised
        moved = slaclock.reassigned_team(f.actions)
        if moved is not None and moved != team:
            ev = assigned_event((team, moved), (str(assignee_id) if assignee_id else None, None))
            if ev is not None:
                data = {"team": change(team, moved), "sla": f.target}
                if assignee_id is not None:
                    data["assignee"] = change(None, None)  # the username is filled in below
                events.append(storage.NewEvent(kind="assigned", at=now, data=data, notify=listened(
                    catalog, t.type, "assigned", data, None)))
            team, assignee_id = moved, None
    # met targets keep their due time in the row; only those not met were timed by fire()
    same = priority == t.priority and all(c.met_at is None for c in clocks.values())
    cols = slaclock.columns(catalog, t.type, priority, clocks, created_at=t.created_at,
                            timing=timing if same else None)
    bump = (priority, team, assignee_id) != (t.priority, t.team, t.assignee_id)
    update = SlaUpdate(
        id=t.id, row_version=t.row_version, sla=cols.sla_json, sla_next_at=cols.sla_next_at, priority=priority,
        team=team, assignee_id=assignee_id, response_due_at=cols.response_due_at,
        resolution_due_at=cols.resolution_due_at, bump=bump, events=tuple(events),
    )
    return update, warnings, breaches


async def _usernames(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await User.select(User.id, User.username).where(User.id.is_in(sorted(ids))).run()
    return {r["id"]: r["username"] for r in rows}


async def sweep(catalogs: VersionedCatalogs, now: datetime, *, batch: int = _BATCH) -> SweepResult:
    """Fire everything due at ``now``; ``catalogs`` gives the catalog of a definition version
    (``await catalogs.for_version(version)``)."""
    result = SweepResult()
    for _ in range(_MAX_BATCHES):
        async with storage.transaction():
            due = await claim_due(now, batch)
            if not due:
                break
            updates: list[SlaUpdate] = []
            names = await _usernames({t.assignee_id for t in due if t.assignee_id is not None})
            for t in due:
                catalog = await catalogs.for_version(t.definition_version)
                update, warnings, breaches = _decide(catalog, t, now)
                if update.team != t.team and t.assignee_id is not None:
                    update = _with_assignee_name(update, names.get(t.assignee_id))
                updates.append(update)
                result.warnings += warnings
                result.breaches += breaches
            written = await write_sweep(updates, now, due)
            result.tickets += len(written)
            result.skipped += len(updates) - len(written)
            for u in updates:
                if u.id not in written:
                    result.warnings -= sum(e.kind == "sla_warning" for e in u.events)
                    result.breaches -= sum(e.kind == "sla_breached" for e in u.events)
        if len(due) < batch or not written:
            break
    return result


def _with_assignee_name(update: SlaUpdate, username: str | None) -> SlaUpdate:
    events = []
    for e in update.events:
        if e.kind == "assigned" and "assignee" in e.data:
            e = storage.NewEvent(kind=e.kind, at=e.at, notify=e.notify,
                                 data={**e.data, "assignee": change(username, None)})
        events.append(e)
    return SlaUpdate(**{**update.__dict__, "events": tuple(events)})
