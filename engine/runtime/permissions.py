"""Who may see and do what: the one module that decides every read and write.

A ticket is visible to an actor when ANY of the actor's scope rules matches it. The rules come
from the ``view`` grants of the actor's roles, plus implicit rules every user has (like Jira and
Zammad): requesters see the tickets they raised, assignees the tickets assigned to them, and
approvers the tickets they were asked to approve. Admin roles see every ticket; they get no other
action for free — those still come from grants.

The same rules serve two callers: ``can_view`` answers for one ticket in memory, and the storage
layer turns ``scope_rules`` into a SQL ``WHERE`` clause for queues and lists, so the two can never
disagree. Callers must report a ticket the actor may not view as ``NotFound`` (never
``PermissionDenied``) so that its existence does not leak; ``require`` does exactly that.

Implicit comment rights: the requester and the assignee may always add public comments to their
tickets; internal notes need a ``comment`` grant beyond one's own tickets (``can_note``).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Literal

from engine.schema import Catalog
from engine.schema.kinds.flow import Who
from engine.schema.kinds.role import Grant

from .errors import NotFound, PermissionDenied
from .model import Actor, TicketSnapshot

__all__ = [
    "ScopeKind",
    "ScopeRule",
    "ScopeRules",
    "can",
    "can_create",
    "can_note",
    "can_view",
    "describe_who",
    "is_admin",
    "is_org_manager",
    "may_perform",
    "relations",
    "require",
    "scope_rules",
    "visible_types",
]

ScopeKind = Literal["own", "assigned", "approver", "team", "org_units", "all"]
Action = Literal["create", "view", "comment", "assign", "edit"]
_KIND_ORDER: tuple[ScopeKind, ...] = ("all", "own", "assigned", "approver", "team", "org_units")


@dataclass(frozen=True)
class ScopeRule:
    """Tickets of ``types`` (None: every type) whose ``kind`` column is one of ``values``.

    own: requester in values; assigned: assignee in values; approver: one of values has an
    approval row on the ticket; team: ticket team in values; org_units: ticket org unit in values
    (an org_subtree grant is already expanded); all: every ticket, values is empty.
    """

    types: frozenset[str] | None
    kind: ScopeKind
    values: frozenset[str] = frozenset()

    def matches(self, ticket: TicketSnapshot) -> bool:
        """Whether this rule lets the ticket through (the in-memory twin of the SQL clause)."""
        if self.types is not None and ticket.type not in self.types:
            return False
        if self.kind == "all":
            return True
        if self.kind == "own":
            return ticket.requester in self.values
        if self.kind == "assigned":
            return ticket.assignee is not None and ticket.assignee in self.values
        if self.kind == "approver":
            return not self.values.isdisjoint(ticket.approvers)
        if self.kind == "team":
            return ticket.team is not None and ticket.team in self.values
        return ticket.org_unit is not None and ticket.org_unit in self.values


@dataclass(frozen=True)
class ScopeRules:
    """Which tickets an actor may act on: a ticket qualifies when any rule matches."""

    rules: tuple[ScopeRule, ...]

    def matches(self, ticket: TicketSnapshot) -> bool:
        return any(rule.matches(ticket) for rule in self.rules)

    @property
    def everything(self) -> bool:
        """True when no filter is needed at all."""
        return any(r.kind == "all" and r.types is None for r in self.rules)

    @property
    def nothing(self) -> bool:
        return not self.rules


def _roles(catalog: Catalog, actor: Actor) -> list[str]:
    return sorted(r for r in actor.roles if r in catalog.roles)


def is_admin(catalog: Catalog, actor: Actor) -> bool:
    """Whether one of the actor's roles is an admin role."""
    return any(catalog.roles[r].admin for r in _roles(catalog, actor))


def _grants(catalog: Catalog, actor: Actor, action: str) -> list[Grant]:
    return [g for r in _roles(catalog, actor) for g in catalog.roles[r].permissions if action in g.actions]


def _types(grant: Grant) -> frozenset[str] | None:
    return None if grant.types == "*" else frozenset(grant.types)


def can_create(catalog: Catalog, actor: Actor, type_name: str) -> bool:
    """Whether the actor may raise tickets of this type."""
    return type_name in catalog.types and type_name in visible_types(catalog, actor, "create")


def visible_types(catalog: Catalog, actor: Actor, action: Action = "view") -> frozenset[str]:
    """Ticket types on which some grant gives the actor ``action`` (for menus and type filters).

    Implicit visibility (own, assigned, approver) reaches every type and is not listed here.
    """
    if action == "view" and is_admin(catalog, actor):
        return frozenset(catalog.types)
    out: set[str] = set()
    for g in _grants(catalog, actor, action):
        out.update(catalog.types if g.types == "*" else (t for t in g.types if t in catalog.types))
    return frozenset(out)


def _grant_rule(catalog: Catalog, actor: Actor, grant: Grant) -> ScopeRule | None:
    types = _types(grant)
    scope = grant.scope
    if scope == "all":
        return ScopeRule(types, "all")
    if scope == "own":
        return ScopeRule(types, "own", frozenset({actor.username}))
    if scope == "assigned":
        return ScopeRule(types, "assigned", frozenset({actor.username}))
    if scope == "team":
        return ScopeRule(types, "team", frozenset(actor.teams)) if actor.teams else None
    if actor.org_unit is None:
        return None  # a user outside the org tree has no unit to scope by
    if scope == "org_unit":
        return ScopeRule(types, "org_units", frozenset({actor.org_unit}))
    units = catalog.org.subtree(actor.org_unit) or (actor.org_unit,)
    return ScopeRule(types, "org_units", frozenset(units))


def _implicit(actor: Actor, action: str) -> list[ScopeRule]:
    me = frozenset({actor.username})
    if action == "view":
        return [ScopeRule(None, "own", me), ScopeRule(None, "assigned", me), ScopeRule(None, "approver", me)]
    if action == "comment":
        return [ScopeRule(None, "own", me), ScopeRule(None, "assigned", me)]
    return []


def _merge(rules: list[ScopeRule]) -> ScopeRules:
    """Fold rules of the same kind and types together, so the SQL stays short."""
    if any(r.kind == "all" and r.types is None for r in rules):
        return ScopeRules((ScopeRule(None, "all"),))
    merged: dict[tuple[ScopeKind, frozenset[str] | None], set[str]] = {}
    for r in rules:
        merged.setdefault((r.kind, r.types), set()).update(r.values)

    def order(key: tuple[ScopeKind, frozenset[str] | None]) -> tuple[int, tuple[str, ...]]:
        kind, types = key
        return (_KIND_ORDER.index(kind), () if types is None else tuple(sorted(types)))

    return ScopeRules(tuple(ScopeRule(types, kind, frozenset(merged[(kind, types)]))
                            for kind, types in sorted(merged, key=order)))


# Rules depend only on the definitions (by content hash) and the actor, and a page asks for them once
# per ticket shown; remembering the last few keeps a 50-row list from rebuilding them 50 times.
_SCOPE_CACHE: dict[tuple[str, Actor, str, bool], ScopeRules] = {}


def scope_rules(catalog: Catalog, actor: Actor, action: Action = "view", *,
                implicit: bool = True) -> ScopeRules:
    """The tickets on which the actor may perform ``action``, as data for a SQL WHERE clause."""
    key = (catalog.version, actor, action, implicit)
    cached = _SCOPE_CACHE.get(key)
    if cached is None:
        if len(_SCOPE_CACHE) >= 4096:
            _SCOPE_CACHE.clear()
        cached = _SCOPE_CACHE[key] = _scope_rules(catalog, actor, action, implicit)
    return cached


def _scope_rules(catalog: Catalog, actor: Actor, action: Action, implicit: bool) -> ScopeRules:
    rules: list[ScopeRule] = []
    if action == "view" and is_admin(catalog, actor):
        rules.append(ScopeRule(None, "all"))
    for g in _grants(catalog, actor, action):
        rule = _grant_rule(catalog, actor, g)
        if rule is not None:
            rules.append(rule)
    if implicit:
        rules.extend(_implicit(actor, action))
    return _merge(rules)


def can_view(catalog: Catalog, actor: Actor, ticket: TicketSnapshot) -> bool:
    """Whether the actor may see the ticket at all."""
    return scope_rules(catalog, actor, "view").matches(ticket)


def can(catalog: Catalog, actor: Actor, action: Action, ticket: TicketSnapshot) -> bool:
    """Whether the actor may perform ``action`` (view, comment, assign, edit) on the ticket.

    Every action needs the ticket to be visible as well; ``create`` asks about the ticket's type.
    """
    if action == "create":
        return can_create(catalog, actor, ticket.type)
    if not can_view(catalog, actor, ticket):
        return False
    return action == "view" or scope_rules(catalog, actor, action).matches(ticket)


def can_note(catalog: Catalog, actor: Actor, ticket: TicketSnapshot) -> bool:
    """Whether the actor may read and write internal notes on the ticket.

    Notes are for those who handle the ticket: they need a ``comment`` grant that reaches the
    ticket by a scope other than ``own`` — a grant on one's own tickets is a requester's grant, and
    being requester or assignee is not enough either.
    """
    if not can_view(catalog, actor, ticket):
        return False
    rules = scope_rules(catalog, actor, "comment", implicit=False).rules
    return any(r.kind != "own" and r.matches(ticket) for r in rules)


def require(catalog: Catalog, actor: Actor, action: Action, ticket: TicketSnapshot) -> None:
    """Raise ``NotFound`` when the ticket is invisible, ``PermissionDenied`` when only the action is."""
    if not can_view(catalog, actor, ticket):
        raise NotFound(f"ticket {ticket.number} not found")
    if not can(catalog, actor, action, ticket):
        raise PermissionDenied(f"you may not {action} ticket {ticket.number}")


def is_org_manager(catalog: Catalog, actor: Actor, org_unit: str | None) -> bool:
    """Whether the actor manages ``org_unit``: they sit in it and hold its level's manager role."""
    if org_unit is None or actor.org_unit != org_unit:
        return False
    unit = catalog.org.units.get(org_unit)
    level = catalog.org.levels.get(unit.level) if unit is not None and unit.level else None
    return level is not None and level.manager_role is not None and level.manager_role in actor.roles


def relations(catalog: Catalog, actor: Actor, ticket: TicketSnapshot) -> set[str]:
    """How the actor relates to the ticket: requester, assignee, team_member, org_manager."""
    out: set[str] = set()
    if ticket.requester == actor.username:
        out.add("requester")
    if ticket.assignee is not None and ticket.assignee == actor.username:
        out.add("assignee")
    if ticket.team is not None and ticket.team in actor.teams:
        out.add("team_member")
    if is_org_manager(catalog, actor, ticket.org_unit):
        out.add("org_manager")
    return out


def may_perform(catalog: Catalog, actor: Actor, ticket: TicketSnapshot, who: Who,
                known: Set[str] | None = None) -> bool:
    """Whether the actor is among ``who``: holds a listed role or stands in a listed relation.

    ``known``: the actor's :func:`relations` to the ticket, when the caller has them already."""
    if not actor.roles.isdisjoint(who.roles):
        return True
    if not who.relations:
        return False
    return not (relations(catalog, actor, ticket) if known is None else known).isdisjoint(who.relations)


_RELATION_WORDS = {
    "requester": "the requester",
    "assignee": "the assignee",
    "team_member": "members of the ticket's team",
    "org_manager": "the manager of the ticket's org unit",
}


def describe_who(who: Who) -> str:
    """``who`` in words, for messages: "role 'technician' or the assignee"."""
    parts = [f"role '{r}'" for r in who.roles] + [_RELATION_WORDS.get(r, r) for r in who.relations]
    return " or ".join(parts) or "nobody"
