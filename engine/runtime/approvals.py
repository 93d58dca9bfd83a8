"""Approvals in levels: opening a level, and what an approver's decision leads to.

An approval runs while its ticket is in the approval's (waiting) state. Levels run in order; a
level whose ``when`` does not hold on the ticket is skipped, and when no level applies at all the
ticket passes straight to ``on_approved``. ``mode: any`` — one approval completes the level;
``all`` — every approver of the level must approve. One rejection ends the approval at once and
leads to the level's ``on_rejected``, else the approval's.

Approval rows are plain data: the caller passes the rows of the current run only (the run opened
when the ticket last entered the approval state), each (level, approver, decision).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from engine.schema import Catalog, CompiledType
from engine.schema.conditions import evaluate
from engine.schema.kinds.flow import Approval, ApprovalLevel

from .errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from .model import Actor, TicketSnapshot
from .parties import lookup
from .permissions import can_view
from .plans import ApprovalPlan, ApprovalStep, Event

__all__ = ["ApprovalRow", "Entry", "decide_approval", "enter_state", "next_level", "pending_level"]

Decision = Literal["pending", "approved", "rejected", "cancelled"]


@dataclass(frozen=True)
class ApprovalRow:
    """One approver's part in one level of the current approval run."""

    level: str
    approver: str
    decision: Decision = "pending"


@dataclass(frozen=True)
class Entry:
    """Where a ticket ends up on entering a state, after approvals that apply to no level."""

    state: str
    approval: ApprovalStep | None
    events: tuple[Event, ...]


def _ctype(catalog: Catalog, ticket: TicketSnapshot) -> CompiledType:
    ctype = catalog.types.get(ticket.type)
    if ctype is None:
        raise NotFound(f"ticket type '{ticket.type}' is not defined")
    return ctype


def next_level(ctype: CompiledType, approval: Approval, values: Mapping[str, Any],
               after: str | None = None) -> ApprovalLevel | None:
    """The first level after ``after`` (None: from the start) whose ``when`` holds."""
    levels = approval.levels
    start = 0 if after is None else next(i for i, lv in enumerate(levels) if lv.id == after) + 1
    for lv in levels[start:]:
        cond = ctype.flow.level_conditions.get((approval.id, lv.id))
        if cond is None or evaluate(cond, values):
            return lv
    return None


def _step(catalog: Catalog, approval: Approval, level: ApprovalLevel, ticket: TicketSnapshot) -> ApprovalStep:
    return ApprovalStep(approval.id, level.id, level.mode, lookup(catalog, level.approvers, ticket))


def enter_state(catalog: Catalog, ticket: TicketSnapshot) -> Entry:
    """Enter ``ticket.state`` (the ticket as it will be): open its approval, or pass through it."""
    ctype = _ctype(catalog, ticket)
    events: list[Event] = []
    seen: set[str] = set()
    current = ticket
    while True:
        approval = ctype.flow.approvals.get(current.state)
        if approval is None or current.state in seen:
            return Entry(current.state, None, tuple(events))
        seen.add(current.state)
        level = next_level(ctype, approval, current.values())
        if level is not None:
            events.append(Event("approval_started", {"approval": approval.id, "level": level.id}))
            return Entry(current.state, _step(catalog, approval, level, current), tuple(events))
        events.append(Event("approval_finished", {"approval": approval.id, "outcome": "approved",
                                                  "skipped": True}))
        events.append(Event("transition", {"transition": None, "approval": approval.id,
                                           "from": current.state, "to": approval.on_approved}))
        current = replace(current, state=approval.on_approved)


def pending_level(approval: Approval, rows: Iterable[ApprovalRow]) -> str | None:
    """The level now awaiting decisions: the latest level that has pending rows."""
    order = {lv.id: i for i, lv in enumerate(approval.levels)}
    pending = [order[r.level] for r in rows if r.decision == "pending" and r.level in order]
    return approval.levels[max(pending)].id if pending else None


def decide_approval(catalog: Catalog, actor: Actor, ticket: TicketSnapshot, rows: Iterable[ApprovalRow],
                    decision: str, comment: str | None = None) -> ApprovalPlan:
    """Record the actor's approve/reject on the pending level and say what follows."""
    rows = list(rows)
    ctype = _ctype(catalog, ticket)
    mine = any(r.approver == actor.username for r in rows)
    if not mine and not can_view(catalog, actor, ticket):
        raise NotFound(f"ticket {ticket.number} not found")
    approval = ctype.flow.approvals.get(ticket.state)
    if approval is None:
        raise TransitionNotAllowed(
            f"ticket {ticket.number} is not awaiting approval (state '{ticket.state}')")
    if decision not in ("approve", "reject"):
        raise InvalidInput([("decision", "must be approve or reject")])
    level_id = pending_level(approval, rows)
    if level_id is None:
        raise TransitionNotAllowed(f"no approval is pending on ticket {ticket.number}")
    level = next(lv for lv in approval.levels if lv.id == level_id)
    at_level = [r for r in rows if r.level == level_id and r.decision == "pending"]
    if not any(r.approver == actor.username for r in at_level):
        raise PermissionDenied(
            f"you are not a pending approver of level '{level_id}' on ticket {ticket.number}")
    note = comment.strip() if comment and comment.strip() else None
    verdict: Literal["approved", "rejected"] = "approved" if decision == "approve" else "rejected"
    events = (Event("approval_decided", {"approval": approval.id, "level": level_id, "decision": verdict,
                                         "comment": note}),)
    plan = ApprovalPlan(ticket_id=ticket.id, row_version=ticket.row_version, approval=approval.id,
                        level=level_id, approver=actor.username, decision=verdict, comment=note,
                        level_done=True, events=events)
    if verdict == "rejected":
        return _finish(catalog, ticket, approval, plan, level.on_rejected or approval.on_rejected)
    if level.mode == "all" and any(r.approver != actor.username for r in at_level):
        return replace(plan, level_done=False)
    following = next_level(ctype, approval, ticket.values(), after=level_id)
    if following is None:
        return _finish(catalog, ticket, approval, plan, approval.on_approved)
    started = Event("approval_started", {"approval": approval.id, "level": following.id})
    return replace(plan, next_step=_step(catalog, approval, following, ticket), events=(*events, started))


def _finish(catalog: Catalog, ticket: TicketSnapshot, approval: Approval, plan: ApprovalPlan,
            target: str) -> ApprovalPlan:
    """The approval is over: move the ticket on, into whatever the target state starts."""
    finished = Event("approval_finished", {"approval": approval.id, "outcome": plan.decision})
    moved = Event("transition", {"transition": None, "approval": approval.id,
                                 "from": ticket.state, "to": target})
    entry = enter_state(catalog, replace(ticket, state=target))
    return replace(plan, to_state=entry.state, next_step=entry.approval,
                   events=(*plan.events, finished, moved, *entry.events))
