"""Plain values the runtime decides over: who acts, and the ticket as it stands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Actor", "TicketSnapshot"]


@dataclass(frozen=True)
class Actor:
    """A signed-in user as the rules see them."""

    id: int
    username: str
    roles: frozenset[str]
    teams: frozenset[str] = frozenset()
    org_unit: str | None = None
    display_name: str = ""

    @property
    def label(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class TicketSnapshot:
    """A ticket's state at one moment; decisions never read the database themselves."""

    id: int
    number: str
    type: str
    title: str
    state: str
    priority: str
    requester: str
    assignee: str | None
    team: str | None
    org_unit: str | None
    fields: Mapping[str, Any]
    definition_version: str
    row_version: int
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Everyone with an approval row on the ticket (any decision): they may see what they approve.
    approvers: frozenset[str] = frozenset()
    # The stored row's ids and clocks (``requester``/``assignee`` above are usernames).
    requester_id: int | None = None
    assignee_id: int | None = None
    state_category: str = ""
    resolved_at: datetime | None = None
    first_response_at: datetime | None = None
    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla: Mapping[str, Any] = field(default_factory=dict)  # the SLA clocks (engine.runtime.slaclock)
    reopen_count: int = 0

    def values(self) -> dict[str, Any]:
        """What conditions test: custom fields plus the type, state and priority."""
        return {**self.fields, "type": self.type, "state": self.state, "priority": self.priority}
