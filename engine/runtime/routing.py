"""Dispatch: which routing rule a ticket matches, and whom a strategy picks among candidates.

Routing happens in two pure steps with one database read between them:

1. ``match_rule`` / ``route_request`` say which rule applies and whom to look for (a
   ``PartyLookup``);
2. the storage layer loads the matching users as ``Candidate`` rows (open tickets, last
   assignment), and ``decide_route`` picks one.

Applying a ``RouteDecision``: the team becomes ``decision.team`` when it is set, the assignee
becomes ``decision.assignee`` when it is set; otherwise they stay as they are (a transition
declares ``unassign`` to clear the assignee first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.schema import Catalog
from engine.schema.conditions import evaluate
from engine.schema.kinds.flow import Assignment, RoutingRule

from .model import TicketSnapshot
from .parties import PartyLookup, lookup

__all__ = [
    "Candidate",
    "RouteDecision",
    "RouteRequest",
    "choose",
    "decide_route",
    "match_rule",
    "route_request",
]


@dataclass(frozen=True)
class Candidate:
    """A user who could take the ticket, with the load figures the strategies weigh."""

    username: str
    open_count: int = 0
    # When (or, as a ticket id, in which order) the user last got a ticket; None: never.
    last_assigned_at: datetime | int | None = None


@dataclass(frozen=True)
class RouteRequest:
    """Where a ticket should go: the rule (None for a transition's own ``assign``) and whom to ask."""

    rule_id: str | None
    assignment: Assignment
    candidates: PartyLookup

    @property
    def needs_candidates(self) -> bool:
        """False when the assignment names only a team queue: no user has to be picked."""
        a = self.assignment
        return bool(a.user or a.role or a.relation or a.strategy != "fixed")


@dataclass(frozen=True)
class RouteDecision:
    """The outcome of routing: the team and the person a ticket goes to (None: unchanged)."""

    rule_id: str | None
    team: str | None
    assignee: str | None
    strategy: str


def match_rule(catalog: Catalog, ticket_type: str, values: Mapping[str, Any]) -> RoutingRule | None:
    """The first routing rule of the type's flow whose ``when`` holds; a rule without one always does."""
    for rule, cond in catalog.types[ticket_type].flow.routing:
        if cond is None or evaluate(cond, values):
            return rule
    return None


def route_request(catalog: Catalog, assignment: Assignment, ticket: TicketSnapshot,
                  rule_id: str | None = None) -> RouteRequest:
    """What the directory must be asked to route ``ticket`` by ``assignment``."""
    return RouteRequest(rule_id, assignment, lookup(catalog, assignment, ticket))


def _stamp(moment: datetime | int | None) -> tuple[bool, float]:
    # Never-assigned users sort first; among the others, the longest-idle one.
    if moment is None:
        return (False, 0.0)
    return (True, float(moment) if isinstance(moment, int) else moment.timestamp())


def choose(strategy: str, candidates: Iterable[Candidate], user: str | None = None) -> str | None:
    """Pick one candidate; deterministic, so a retried request picks the same person.

    least_loaded: fewest open tickets, then least recently assigned, then username.
    round_robin: least recently assigned (never-assigned first), then username.
    fixed: the named ``user`` when it is among the candidates (an inactive user is not); without
    a named user (e.g. ``relation: requester``), the first candidate by username.
    """
    pool = list(candidates)
    if user is not None and strategy == "fixed":
        return user if any(c.username == user for c in pool) else None
    if not pool:
        return None
    if strategy == "fixed":
        return min(c.username for c in pool)
    if strategy == "least_loaded":
        best = min(pool, key=lambda c: (c.open_count, _stamp(c.last_assigned_at), c.username))
    elif strategy == "round_robin":
        best = min(pool, key=lambda c: (_stamp(c.last_assigned_at), c.username))
    else:
        raise ValueError(f"unknown routing strategy '{strategy}'")
    return best.username


def decide_route(request: RouteRequest, candidates: Iterable[Candidate] = ()) -> RouteDecision:
    """Where the ticket goes, given the candidates the directory found for ``request.candidates``."""
    a = request.assignment
    assignee = choose(a.strategy, candidates, a.user) if request.needs_candidates else None
    return RouteDecision(request.rule_id, a.team, assignee, a.strategy)
