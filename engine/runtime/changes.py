"""Decisions on changes outside the flow: editing fields, (re)assigning, commenting.

Like every decision these are pure and raise a domain error to say no (see ``decide``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.schema import Catalog, FieldError

from .decide import ticket_type
from .errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from .fielddata import changes, clean, editable_errors, merge, priority_errors, title_errors
from .masking import strip_masked
from .model import Actor, TicketSnapshot
from .permissions import can, can_note, can_view, require
from .plans import AssignPlan, CommentPlan, EditPlan, Event, assigned_event, change

__all__ = ["COMMENT_MAX", "decide_assign", "decide_comment", "decide_edit"]

COMMENT_MAX = 20000


def decide_edit(catalog: Catalog, actor: Actor, ticket: TicketSnapshot,
                fields: Mapping[str, Any] | None = None, *, title: str | None = None,
                priority: str | None = None) -> EditPlan:
    """Plan changing fields (a None or empty value clears one), the title or the priority.

    Needs the 'edit' permission; each field must be editable in the current state (its
    ``editable_in``, else any state that is not resolved, closed or cancelled). The merged data is
    validated again for the current state.
    """
    ctype = ticket_type(catalog, ticket)
    require(catalog, actor, "edit", ticket)
    closing = ctype.flow.is_closing(ticket.state)
    submitted, errors = strip_masked(catalog, actor, ticket, clean(ctype, fields or {}))
    errors += editable_errors(ctype, submitted, ticket.state)
    new_title = ticket.title if title is None else title.strip()
    new_priority = priority or ticket.priority
    frozen = f"cannot be changed in state '{ticket.state}'"
    if new_title != ticket.title:
        errors += title_errors(ctype, new_title) or ([FieldError("title", frozen)] if closing else [])
    if new_priority != ticket.priority:
        errors += priority_errors(new_priority) or ([FieldError("priority", frozen)] if closing else [])
    new_fields = merge(ticket.fields, submitted)
    if submitted or new_priority != ticket.priority:
        errors += ctype.validate(new_fields, state=ticket.state, priority=new_priority)
    if errors:
        raise InvalidInput(dict.fromkeys(errors))
    events: list[Event] = []
    if new_title != ticket.title:
        events.append(Event("title_changed", change(ticket.title, new_title)))
    if new_priority != ticket.priority:
        events.append(Event("priority_changed", change(ticket.priority, new_priority)))
    diff = changes(ticket.fields, new_fields)
    if diff:
        events.append(Event("fields_changed", {"changes": diff}))
    return EditPlan(ticket_id=ticket.id, row_version=ticket.row_version, title=new_title,
                    priority=new_priority, fields=new_fields, events=tuple(events))


def decide_assign(catalog: Catalog, actor: Actor, ticket: TicketSnapshot, *, assignee: str | None,
                  team: str | None) -> AssignPlan:
    """Plan handing the ticket to ``team`` and ``assignee`` (None clears either).

    Needs the 'assign' permission and a state that is not resolved, closed or cancelled. Whether
    ``assignee`` is an active user is the caller's check: the rules know no users.
    """
    ctype = ticket_type(catalog, ticket)
    require(catalog, actor, "assign", ticket)
    if ctype.flow.is_closing(ticket.state):
        raise TransitionNotAllowed(f"ticket {ticket.number} is {ctype.flow.category(ticket.state)} "
                                   f"(state '{ticket.state}') and cannot be reassigned")
    errors: list[FieldError] = []
    if team is not None and team not in catalog.teams:
        errors.append(FieldError("team", f"unknown team '{team}'"))
    if assignee is not None and not assignee.strip():
        errors.append(FieldError("assignee", "must be a username"))
    if errors:
        raise InvalidInput(errors)
    moved = assigned_event((ticket.team, team), (ticket.assignee, assignee))
    return AssignPlan(ticket_id=ticket.id, row_version=ticket.row_version, team=team, assignee=assignee,
                      events=(moved,) if moved is not None else ())


def decide_comment(catalog: Catalog, actor: Actor, ticket: TicketSnapshot, body: str,
                   internal: bool = False) -> CommentPlan:
    """Plan a public comment (requester, assignee or a 'comment' grant) or an internal note (grant only)."""
    ticket_type(catalog, ticket)
    if not can_view(catalog, actor, ticket):
        raise NotFound(f"ticket {ticket.number} not found")
    if internal and not can_note(catalog, actor, ticket):
        raise PermissionDenied(f"you may not write internal notes on ticket {ticket.number}")
    if not internal and not can(catalog, actor, "comment", ticket):
        raise PermissionDenied(f"you may not comment on ticket {ticket.number}")
    text = (body or "").strip()
    if not text:
        raise InvalidInput([("body", "is required")])
    if len(text) > COMMENT_MAX:
        raise InvalidInput([("body", f"must be at most {COMMENT_MAX} characters")])
    return CommentPlan(ticket_id=ticket.id, body=text, internal=internal,
                       events=(Event("comment", {"body": text, "internal": internal}),))
