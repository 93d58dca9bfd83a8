"""What a notification says: the template variables of an event on a ticket, and the rendered text.

Pure: the caller gives the ticket, the event and the people (with display names) it already
loaded. Sensitive fields are masked in every message whoever receives it: a message leaves the
system (an inbox, a chat group) where the masking of the pages cannot follow it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.schema import Catalog
from engine.schema.message_templates import DEFAULT_SUBJECT, render_template
from engine.schema.model import LocalizedText, label_text

from ..masking import mask_fields
from ..model import Actor, TicketSnapshot

__all__ = ["SLA_BODY", "SLA_SUBJECT", "EventInfo", "Text", "render", "template_context"]

_NOBODY = Actor(id=0, username="", roles=frozenset())

Text = str | LocalizedText

# What an SLA action's `notify` sends (Notification rules on sla_warning / sla_breached say more).
SLA_SUBJECT = LocalizedText(
    en="[SLA {{ 'breached' if sla.threshold == 'breach' else 'warning' }}] {{ ticket.number }} {{ ticket.title }}",
    zh="[SLA {{ '已超时' if sla.threshold == 'breach' else '即将超时' }}] {{ ticket.number }} {{ ticket.title }}",
)
SLA_BODY = LocalizedText(
    en=(
        "{{ ticket.number }} \"{{ ticket.title }}\" "
        "{{ 'missed' if sla.threshold == 'breach' else 'is close to' }} its "
        "{{ 'first response' if sla.metric == 'first_response' else 'resolution' }} target "
        "({{ sla.target }}), due {{ sla.due_at }}.\n"
        "State: {{ ticket.state_label }}. Assignee: {{ ticket.assignee_name or 'nobody' }}.\n{{ ticket.url }}"
    ),
    zh=(
        "{{ ticket.number }}“{{ ticket.title }}”"
        "{{ '已超过' if sla.threshold == 'breach' else '即将超过' }}"
        "{{ '首次响应' if sla.metric == 'first_response' else '解决' }}时限（{{ sla.target }}），"
        "截止 {{ sla.due_at }}。\n当前状态：{{ ticket.state_label }}，处理人：{{ ticket.assignee_name or '无' }}。\n"
        "{{ ticket.url }}"
    ),
)


@dataclass(frozen=True)
class EventInfo:
    """The timeline event a notification is about, as notifications name it."""

    kind: str  # the notification event (created, entered, sla_breached, ...)
    actor: str | None = None
    actor_name: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    data: Mapping[str, Any] | None = None


def _zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("GONGDAN_TIMEZONE") or "Asia/Shanghai")


def _local(t: datetime | str | None) -> str | None:
    if t is None:
        return None
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.astimezone(_zone()).strftime("%Y-%m-%d %H:%M")


def template_context(
    catalog: Catalog,
    ticket: TicketSnapshot,
    event: EventInfo,
    *,
    lang: str,
    base_url: str,
    names: Mapping[str, str],
    recipient: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The variables a message template sees (see ``engine.schema.message_templates.VARIABLES``).

    ``names``: display names by username; ``recipient``: (username, display name).
    """
    ctype = catalog.types.get(ticket.type)
    state = ctype.flow.states.get(ticket.state) if ctype else None
    team = catalog.teams.get(ticket.team) if ticket.team else None
    data = dict(event.data or {})
    values = {
        "number": ticket.number,
        "title": ticket.title,
        "type": ticket.type,
        "type_label": ctype.label(lang) if ctype else ticket.type,
        "state": ticket.state,
        "state_label": label_text(state.label, lang, ticket.state) if state else ticket.state,
        "state_category": ticket.state_category,
        "priority": ticket.priority,
        "requester": ticket.requester,
        "requester_name": names.get(ticket.requester) or ticket.requester,
        "assignee": ticket.assignee,
        "assignee_name": (names.get(ticket.assignee) or ticket.assignee) if ticket.assignee else None,
        "team": ticket.team,
        "team_label": label_text(team.label, lang, ticket.team or "") if team else ticket.team,
        "org_unit": ticket.org_unit,
        "org_unit_label": catalog.org.label(ticket.org_unit, lang) if ticket.org_unit else None,
        "created_at": _local(ticket.created_at),
        "url": f"{base_url.rstrip('/')}/tickets/{ticket.id}",
        "fields": mask_fields(catalog, _NOBODY, ticket.type, ticket.fields) if ctype else {},
    }
    context: dict[str, Any] = {
        "ticket": values,
        "event": {
            "kind": event.kind,
            "actor": event.actor,
            "actor_name": event.actor_name or event.actor,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "transition": data.get("transition"),
            "comment": data.get("comment") if event.kind != "commented" else data.get("body"),
            "approval": data.get("approval"),
            "level": data.get("level"),
            "decision": data.get("decision"),
        },
        "recipient": {"username": recipient[0], "display_name": recipient[1]} if recipient else {},
        "lang": lang,
    }
    if event.kind in ("sla_warning", "sla_breached"):
        context["sla"] = {
            "target": data.get("target"),
            "target_label": data.get("target"),
            "metric": data.get("metric"),
            "due_at": _local(data.get("due_at")),
            "threshold": data.get("threshold"),
        }
    return context


def _text(text: Text | None, lang: str) -> str:
    if text is None:
        return DEFAULT_SUBJECT
    return label_text(text, lang, "")


def render(subject: Text | None, body: Text, context: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and body in the context's language (raises ``TemplateRenderError``)."""
    lang = str(context.get("lang") or "en")
    return (render_template(_text(subject, lang), context).strip(),
            render_template(_text(body, lang), context).strip())
