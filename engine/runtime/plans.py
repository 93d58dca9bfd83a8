"""Plans: what a decision wants written, as plain data for the one step that applies it.

A plan is complete: the executor applies it in one transaction without consulting any rule.
Plans on an existing ticket carry the ``row_version`` the decision was made on; the executor
updates ``WHERE row_version = plan.row_version`` and raises ``StaleTicket`` when no row matched,
so a decision is never applied to a ticket it did not see.

Events are the audit trail and the timeline, written in order. Their ``data`` is JSON-ready;
changes are ``{"before": ..., "after": ...}`` pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import StaleTicket
from .model import TicketSnapshot
from .parties import PartyLookup
from .routing import RouteRequest

__all__ = [
    "EVENT_KINDS",
    "ApprovalPlan",
    "ApprovalStep",
    "AssignPlan",
    "CommentPlan",
    "CreatePlan",
    "EditPlan",
    "Event",
    "EventKind",
    "Plan",
    "TransitionPlan",
    "assigned_event",
    "change",
    "require_fresh",
]

EventKind = Literal[
    "created", "transition", "fields_changed", "title_changed", "priority_changed", "assigned",
    "comment", "approval_started", "approval_decided", "approval_finished", "approval_cancelled",
]
EVENT_KINDS: tuple[str, ...] = (
    "created", "transition", "fields_changed", "title_changed", "priority_changed", "assigned",
    "comment", "approval_started", "approval_decided", "approval_finished", "approval_cancelled",
)


@dataclass(frozen=True)
class Event:
    """One entry of a ticket's history."""

    kind: EventKind
    data: Mapping[str, Any] = field(default_factory=dict)


def change(before: Any, after: Any) -> dict[str, Any]:
    """The JSON shape of one change in event data."""
    return {"before": before, "after": after}


def assigned_event(team: tuple[str | None, str | None],
                   assignee: tuple[str | None, str | None]) -> Event | None:
    """The "assigned" event for (before, after) of team and assignee; None when neither changed."""
    pairs = (("team", team), ("assignee", assignee))
    data = {key: change(before, after) for key, (before, after) in pairs if before != after}
    return Event("assigned", data) if data else None


@dataclass(frozen=True)
class ApprovalStep:
    """An approval level to open: create a pending row for every user ``approvers`` finds.

    When the lookup finds nobody the executor must refuse the whole plan (the ticket would
    wait for no one), e.g. with ``TransitionNotAllowed``.
    """

    approval: str
    level: str
    mode: Literal["any", "all"]
    approvers: PartyLookup


@dataclass(frozen=True, kw_only=True)
class CreatePlan:
    """A new ticket. Route it by ``route`` (if any): load its candidates, ``decide_route``, then
    write the decision and its ``assigned_event`` after ``events``."""

    type: str
    title: str
    state: str
    priority: str
    requester: str
    org_unit: str | None
    fields: Mapping[str, Any]
    definition_version: str
    route: RouteRequest | None
    approval: ApprovalStep | None
    events: tuple[Event, ...]


@dataclass(frozen=True, kw_only=True)
class TransitionPlan:
    """A ticket moving from ``from_state`` to ``to_state`` with everything the step changes.

    Apply in this order: fields, priority, state; ``unassign``; ``assignee`` (an actor taking
    the ticket); ``route``; then approvals: cancel pending rows (``cancel_approval``) and open
    ``approval``.
    """

    ticket_id: int
    row_version: int
    transition: str
    from_state: str
    to_state: str
    fields: Mapping[str, Any]
    priority: str
    comment: str | None
    unassign: bool = False
    assignee: str | None = None
    route: RouteRequest | None = None
    approval: ApprovalStep | None = None
    cancel_approval: bool = False
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ApprovalPlan:
    """An approver's decision and what follows from it.

    Record ``decision`` on the actor's pending row of ``level``. When ``level_done`` is set,
    mark every other pending row of the approval run as cancelled. Move the ticket to
    ``to_state`` when it is set, and open ``next_step`` when it is set.
    """

    ticket_id: int
    row_version: int
    approval: str
    level: str
    approver: str
    decision: Literal["approved", "rejected"]
    comment: str | None
    level_done: bool
    to_state: str | None = None
    next_step: ApprovalStep | None = None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, kw_only=True)
class EditPlan:
    """Changed title, priority and field data; no events means nothing changed."""

    ticket_id: int
    row_version: int
    title: str
    priority: str
    fields: Mapping[str, Any]
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AssignPlan:
    """A new team and assignee (None clears it); no events means nothing changed."""

    ticket_id: int
    row_version: int
    team: str | None
    assignee: str | None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CommentPlan:
    """A comment or internal note; it does not change the ticket, so no version check is needed."""

    ticket_id: int
    body: str
    internal: bool
    events: tuple[Event, ...] = ()


Plan = CreatePlan | TransitionPlan | ApprovalPlan | EditPlan | AssignPlan | CommentPlan


def require_fresh(ticket: TicketSnapshot, row_version: int | None) -> None:
    """Raise ``StaleTicket`` when the version the actor saw is not the ticket's current one."""
    if row_version is not None and row_version != ticket.row_version:
        raise StaleTicket(
            f"ticket {ticket.number} was changed by someone else (version {ticket.row_version}, "
            f"you had {row_version}); reload it and try again",
            expected=row_version, actual=ticket.row_version,
        )
