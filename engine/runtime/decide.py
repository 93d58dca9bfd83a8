"""Decisions on a ticket's life in its flow: creating it, and moving it by a transition.

Every decision is a pure function of the Catalog, the actor and a ticket snapshot. It returns a
plan (see ``plans``) or raises one of the domain errors (see ``errors``): raising is how a
decision says no, so a denial can never be applied by mistake and the web layer maps every
denial in one place. Problems with submitted data are collected and raised together.

Taking work: when an actor who qualifies by role (not by a relation) moves an unassigned ticket
from an open state into an active one — a technician accepting a job from the team queue — the
ticket is assigned to that actor, as the "accept" button of most work-order systems does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from engine.schema import Catalog, CompiledType, FieldError
from engine.schema.conditions import evaluate
from engine.schema.kinds.flow import Transition

from .approvals import enter_state
from .errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from .fielddata import changes, clean, editable, fill_defaults, merge, priority_errors, title_errors
from .masking import strip_masked
from .model import Actor, TicketSnapshot
from .permissions import can, can_create, can_view, describe_who, may_perform, relations
from .plans import CreatePlan, Event, TransitionPlan, assigned_event, change
from .routing import RouteRequest, match_rule, route_request

__all__ = ["available_transitions", "decide_create", "decide_transition", "ticket_type"]


def ticket_type(catalog: Catalog, ticket: TicketSnapshot) -> CompiledType:
    """The ticket's compiled type; a type missing from this Catalog is reported as not found."""
    ctype = catalog.types.get(ticket.type)
    if ctype is None:
        raise NotFound(f"ticket type '{ticket.type}' is not defined")
    return ctype


def _route(catalog: Catalog, ticket: TicketSnapshot) -> RouteRequest | None:
    rule = match_rule(catalog, ticket.type, ticket.values())
    return route_request(catalog, rule.assign, ticket, rule.id) if rule is not None else None


def decide_create(catalog: Catalog, actor: Actor, type_name: str, title: str, fields: Mapping[str, Any],
                  priority: str | None = None, org_unit: str | None = None) -> CreatePlan:
    """Plan a new ticket of ``type_name`` raised by ``actor``, in the flow's initial state."""
    ctype = catalog.types.get(type_name)
    if ctype is None:
        raise InvalidInput([("type", f"unknown ticket type '{type_name}'")])
    if not can_create(catalog, actor, type_name):
        raise PermissionDenied(f"you may not create '{type_name}' tickets")
    clean_title = (title or "").strip()
    prio = priority or ctype.spec.default_priority
    errors: list[FieldError] = [*title_errors(ctype, clean_title), *priority_errors(prio)]
    if priority_errors(prio):
        prio = ctype.spec.default_priority  # still validate the fields, so every problem shows at once
    unit = org_unit or actor.org_unit
    if org_unit is not None and org_unit not in catalog.org.units:
        errors.append(FieldError("org_unit", f"unknown org unit '{org_unit}'"))
    state = ctype.flow.initial
    data = {k: v for k, v in clean(ctype, fields).items() if v is not None}
    data = fill_defaults(ctype, data, state, prio)
    errors.extend(ctype.validate(data, state=state, priority=prio))
    if errors:
        raise InvalidInput(errors)
    ticket = TicketSnapshot(id=0, number="", type=type_name, title=clean_title, state=state, priority=prio,
                            requester=actor.username, assignee=None, team=None, org_unit=unit, fields=data,
                            definition_version=catalog.version, row_version=0)
    entry = enter_state(catalog, ticket)
    created = Event("created", {"type": type_name, "title": clean_title, "state": state, "priority": prio,
                                "org_unit": unit, "fields": data})
    return CreatePlan(type=type_name, title=clean_title, state=entry.state, priority=prio,
                      requester=actor.username, org_unit=unit, fields=data,
                      definition_version=catalog.version, route=_route(catalog, ticket),
                      approval=entry.approval, events=(created, *entry.events))


def _holds(ctype: CompiledType, tr: Transition, values: Mapping[str, Any]) -> bool:
    cond = ctype.flow.conditions.get(tr.id)
    return cond is None or evaluate(cond, values)


def available_transitions(catalog: Catalog, actor: Actor, ticket: TicketSnapshot, *,
                          visible: bool = False) -> list[Transition]:
    """The transitions the actor may perform on the ticket now, in the flow's order.

    An approval state offers only the transitions declared from it; approving and rejecting are
    not transitions (see ``approvals.decide_approval``). ``visible``: the caller found the ticket
    through the actor's scope (a list's SQL applies it), so it need not be tested again.
    """
    ctype = catalog.types.get(ticket.type)
    if ctype is None or not (visible or can_view(catalog, actor, ticket)):
        return []
    steps = ctype.flow.transitions_from(ticket.state)
    if not steps:
        return []
    conditions = ctype.flow.conditions
    known = relations(catalog, actor, ticket)  # once for all the steps
    values: dict[str, Any] | None = None  # built only if a condition has to be tested (a list asks per row)
    out: list[Transition] = []
    for tr in steps:
        if not may_perform(catalog, actor, ticket, tr.who, known):
            continue
        cond = conditions.get(tr.id)
        if cond is not None:
            values = ticket.values() if values is None else values
            if not evaluate(cond, values):
                continue
        out.append(tr)
    return out


def _field_errors(catalog: Catalog, actor: Actor, ticket: TicketSnapshot, ctype: CompiledType, tr: Transition,
                  submitted: Mapping[str, Any]) -> list[FieldError]:
    """Fields a step may take: those it requires, and others only from someone who may edit them."""
    extra = [k for k in submitted if k not in tr.require and k in ctype.fields]
    if not extra:
        return []
    if not can(catalog, actor, "edit", ticket):
        return [FieldError(f"fields.{k}", "cannot be changed by this step") for k in extra]
    return [FieldError(f"fields.{k}", f"cannot be changed in state '{ticket.state}'") for k in extra
            if not (editable(ctype, k, ticket.state) or editable(ctype, k, tr.to))]


def _comment(tr: Transition, comment: str | None) -> tuple[str | None, list[FieldError]]:
    note = comment.strip() if comment and comment.strip() else None
    if tr.comment == "required" and note is None:
        return None, [FieldError("comment", "is required")]
    if tr.comment == "none" and note is not None:
        return None, [FieldError("comment", "is not taken by this step")]
    return note, []


def decide_transition(catalog: Catalog, actor: Actor, ticket: TicketSnapshot, transition_id: str,
                      fields: Mapping[str, Any] | None = None, comment: str | None = None) -> TransitionPlan:
    """Plan moving the ticket by ``transition_id`` with the submitted fields and comment."""
    ctype = ticket_type(catalog, ticket)
    flow = ctype.flow
    if not can_view(catalog, actor, ticket):
        raise NotFound(f"ticket {ticket.number} not found")
    tr = flow.transitions.get(transition_id)
    if tr is None:
        raise NotFound(f"flow '{flow.name}' has no transition '{transition_id}'")
    if tr not in flow.transitions_from(ticket.state):
        raise TransitionNotAllowed(f"'{tr.id}' is not possible from state '{ticket.state}'")
    if not may_perform(catalog, actor, ticket, tr.who):
        raise PermissionDenied(f"you may not perform '{tr.id}'; it is for {describe_who(tr.who)}")
    if not _holds(ctype, tr, ticket.values()):
        raise TransitionNotAllowed(f"'{tr.id}' is not possible now: its condition does not hold")

    note, errors = _comment(tr, comment)
    submitted, masked = strip_masked(catalog, actor, ticket, clean(ctype, fields or {}))
    errors += masked + _field_errors(catalog, actor, ticket, ctype, tr, submitted)
    effects = tr.set
    new_fields = merge(ticket.fields, submitted)
    if effects is not None and effects.fields:
        new_fields = merge(new_fields, effects.fields)  # what the flow declares wins over the form
    new_priority = effects.priority if effects is not None and effects.priority else ticket.priority
    errors += ctype.validate(new_fields, state=tr.to, priority=new_priority, require=tr.require)
    if errors:
        raise InvalidInput(dict.fromkeys(errors))

    unassign = effects is not None and effects.unassign
    taker = None
    if (ticket.assignee is None and not actor.roles.isdisjoint(tr.who.roles)
            and flow.category(ticket.state) == "open" and flow.category(tr.to) == "active"):
        taker = actor.username
    assignee_after = taker or (None if unassign else ticket.assignee)
    after = replace(ticket, state=tr.to, priority=new_priority, fields=new_fields, assignee=assignee_after)
    route: RouteRequest | None = None
    if effects is not None and effects.assign is not None:
        route = route_request(catalog, effects.assign, after)
    elif effects is not None and effects.reroute:
        route = _route(catalog, after)

    events = [Event("transition", {"transition": tr.id, "from": ticket.state, "to": tr.to, "comment": note})]
    diff = changes(ticket.fields, new_fields)
    if diff:
        events.append(Event("fields_changed", {"changes": diff}))
    if new_priority != ticket.priority:
        events.append(Event("priority_changed", change(ticket.priority, new_priority)))
    moved = assigned_event((ticket.team, ticket.team), (ticket.assignee, assignee_after))
    if moved is not None:
        events.append(moved)
    leaving = flow.approvals.get(ticket.state) if tr.to != ticket.state else None
    if leaving is not None:
        events.append(Event("approval_cancelled", {"approval": leaving.id}))
    final, step = tr.to, None
    if tr.to != ticket.state:
        entry = enter_state(catalog, after)
        final, step = entry.state, entry.approval
        events.extend(entry.events)
    return TransitionPlan(ticket_id=ticket.id, row_version=ticket.row_version, transition=tr.id,
                          from_state=ticket.state, to_state=final, fields=new_fields, priority=new_priority,
                          comment=note, unassign=unassign, assignee=taker, route=route, approval=step,
                          cancel_approval=leaving is not None, events=tuple(events))
