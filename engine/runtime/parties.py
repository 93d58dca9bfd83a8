"""Who a Party names, as a lookup the user directory can answer without knowing the rules.

A Party (in routing, transition effects and approval levels) may name a role, a team, a fixed
user and a relation to the ticket, and narrow role holders by the org tree. Everything that
depends only on the ticket and the Catalog is resolved here; what is left is a plain
``PartyLookup`` the storage layer turns into one query over active users. Every selector that is
set must hold (they intersect): ``{team: mechanical, role: technician}`` means technicians of the
mechanical team.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.schema import Catalog, OrgTree
from engine.schema.model import Party

from .model import TicketSnapshot

__all__ = ["PartyLookup", "lookup", "org_scope"]


@dataclass(frozen=True)
class PartyLookup:
    """Active users who hold every role in ``roles``, belong to ``team`` and are among ``users``.

    ``org_units`` restricts them to users whose own org unit is listed (None: anywhere). When
    ``nearest`` is set, ``org_units`` is an ordered search, the ticket's unit first and then its
    ancestors: take the users of the first unit that has any.
    """

    roles: frozenset[str] = frozenset()
    team: str | None = None
    users: frozenset[str] | None = None
    org_units: tuple[str, ...] | None = None
    nearest: bool = False

    @property
    def nobody(self) -> bool:
        """True when no user can match, so there is nothing to ask the directory."""
        return self.users == frozenset() or self.org_units == ()


_NOBODY = PartyLookup(users=frozenset())


def org_scope(org: str | None, unit: str | None, tree: OrgTree) -> tuple[tuple[str, ...] | None, bool]:
    """Which org units to look for role holders in, and whether to take the nearest that has any.

    'ticket' → the ticket's unit; 'nearest' → the unit and its ancestors in order, first with
    holders wins; a level id → the ticket's ancestor at that level; 'any' or None → anywhere.
    A ticket without an org unit has no such units, so nobody matches.
    """
    if org is None or org == "any":
        return None, False
    if unit is None:
        return (), False
    if org == "ticket":
        return (unit,), False
    if org == "nearest":
        return tree.ancestors(unit) or (unit,), True
    at = tree.ancestor_at(unit, org)
    return ((at,) if at is not None else ()), False


def lookup(catalog: Catalog, party: Party, ticket: TicketSnapshot) -> PartyLookup:
    """Resolve ``party`` for ``ticket`` as far as the Catalog and the snapshot allow."""
    roles = {party.role} if party.role else set()
    team = party.team
    users: frozenset[str] | None = frozenset({party.user}) if party.user else None
    org_units, nearest = org_scope(party.org, ticket.org_unit, catalog.org)
    rel = party.relation
    if rel == "requester" or rel == "assignee":
        who = ticket.requester if rel == "requester" else ticket.assignee
        if who is None:
            return _NOBODY
        users = frozenset({who}) if users is None else users & {who}
    elif rel == "team_member":
        if ticket.team is None or (team is not None and team != ticket.team):
            return _NOBODY
        team = ticket.team
    elif rel == "org_manager":
        unit = catalog.org.units.get(ticket.org_unit) if ticket.org_unit else None
        level = catalog.org.levels.get(unit.level) if unit is not None and unit.level else None
        if ticket.org_unit is None or level is None or level.manager_role is None:
            return _NOBODY
        roles.add(level.manager_role)
        if org_units is not None and ticket.org_unit not in org_units:
            return _NOBODY
        org_units, nearest = (ticket.org_unit,), False
    found = PartyLookup(frozenset(roles), team, users, org_units, nearest)
    return _NOBODY if found.nobody else found
