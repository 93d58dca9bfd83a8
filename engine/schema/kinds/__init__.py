"""The kinds of definition a set may hold. Adding a kind is one module plus one line here."""

from __future__ import annotations

from .base import API_VERSION, Context, KindInfo, Loaded
from .channel import CHANNEL_KIND
from .flow_checks import KIND as FLOW
from .notification_checks import KIND as NOTIFICATION
from .org import ORG_KIND, TEAMS_KIND
from .report import KIND as REPORT
from .role import KIND as ROLE
from .sla import CALENDAR_KIND, SLA_KIND
from .ticket_type import KIND as TICKET_TYPE

__all__ = ["API_VERSION", "KINDS", "Context", "KindInfo", "Loaded"]

# Checks run in this order; each sees every definition regardless.
KINDS: dict[str, KindInfo] = {
    k.name: k
    for k in (
        ORG_KIND, TEAMS_KIND, ROLE, TICKET_TYPE, FLOW, CALENDAR_KIND, SLA_KIND, CHANNEL_KIND, NOTIFICATION, REPORT,
    )
}
