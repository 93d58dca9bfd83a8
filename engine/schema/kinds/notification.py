"""Notification model: which events notify whom, through which channels, with which message.

Its checks live in ``notification_checks``."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from ..model import Base, Condition, Id, LocalizedText, Name

__all__ = [
    "EVENTS",
    "RECIPIENT_RELATIONS",
    "SLA_EVENTS",
    "STATE_EVENTS",
    "MessageText",
    "NotificationSpec",
    "Recipient",
    "Rule",
]

EVENTS: tuple[str, ...] = (
    "created",
    "assigned",
    "transitioned",
    "entered",
    "commented",
    "approval_requested",
    "approved",
    "rejected",
    "sla_warning",
    "sla_breached",
)
STATE_EVENTS = frozenset({"transitioned", "entered"})
"""Events of a state change; a rule's ``states`` narrows them to some target states."""
SLA_EVENTS = frozenset({"sla_warning", "sla_breached"})
"""Events whose messages may use the ``sla`` variable."""
RECIPIENT_RELATIONS: tuple[str, ...] = ("requester", "assignee", "team_member", "org_manager", "approvers", "actor")

MessageText = Annotated[
    str | LocalizedText,
    Meta(
        description=(
            "A Jinja2 template, plain or per language ({en: ..., zh: ...}). Variables: ticket (number, title, type, "
            "type_label, state, state_label, state_category, priority, requester, requester_name, assignee, "
            "assignee_name, team, team_label, org_unit, org_unit_label, created_at, url, fields.<field id>), event "
            "(kind, actor, actor_name, from_state, to_state, transition, comment, approval, level, decision), sla "
            "(target, target_label, metric, due_at, threshold; only for sla_warning and sla_breached), recipient "
            "(username, display_name) and lang. Example: \"{{ ticket.number }} is {{ ticket.state_label }}\"."
        )
    ),
]


class Recipient(Base, frozen=True, kw_only=True):
    """Who gets the message: exactly one of role, team, user, relation or address."""

    role: Annotated[Id | None, Meta(description="Users who hold this role.")] = None
    org: Annotated[
        str | None,
        Meta(
            description=(
                "Narrow the role's holders by the org tree: 'ticket' (the ticket's own org unit), 'nearest' (the "
                "ticket's unit or the closest parent that has such a user), or an org level id such as 'region'."
            )
        ),
    ] = None
    team: Annotated[Id | None, Meta(description="Members of this team.")] = None
    user: Annotated[str | None, Meta(description="One fixed user, by username.")] = None
    relation: Annotated[
        Id | None,
        Meta(
            description=(
                "Someone related to the ticket: requester, assignee, team_member (of the ticket's team), "
                "org_manager (of its org unit), approvers (the pending approvers), actor (whoever caused the event)."
            )
        ),
    ] = None
    address: Annotated[
        str | None,
        Meta(description="A fixed e-mail address, such as a shared mailbox; reached only through the email channel."),
    ] = None


class Rule(Base, frozen=True, kw_only=True):
    """One notification: when it fires, who gets it, through which channels, and what it says."""

    id: Id
    on: Annotated[
        list[Id],
        Meta(
            min_length=1,
            description=(
                "Events that fire the rule: created, assigned, transitioned (any state change), entered (a change into "
                "one of 'states'), commented (public comments only), approval_requested, approved, rejected, "
                "sla_warning, sla_breached."
            ),
        ),
    ]
    states: Annotated[
        list[Id],
        Meta(description="For entered (required) and transitioned: only changes into these states fire the rule."),
    ] = []
    when: Annotated[
        Condition | None, Meta(description="Fires only while this condition holds on the ticket's values.")
    ] = None
    to: Annotated[
        list[Recipient],
        Meta(description="Who is notified; may be empty only when every channel is a chat/webhook channel."),
    ] = []
    channels: Annotated[
        tuple[Name, ...],
        Meta(
            description=(
                "email and in_app reach each recipient; a Channel definition's name posts once to its group, "
                "whatever 'to' says."
            )
        ),
    ] = ("in_app", "email")
    exclude_actor: Annotated[
        bool, Meta(description="Do not notify the person who caused the event (they know already).")
    ] = True
    subject: Annotated[
        MessageText | None, Meta(description="Subject line; default: the ticket number and title.")
    ] = None
    body: MessageText


class NotificationSpec(Base, frozen=True, kw_only=True):
    """Notification rules for some ticket types."""

    types: Annotated[
        list[Name], Meta(description="Ticket types the rules apply to; omitted or empty: every type.")
    ] = []
    rules: Annotated[list[Rule], Meta(min_length=1)]
