"""A Party resolved against the ticket and the org tree into a plain directory lookup."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.runtime.model import TicketSnapshot
from engine.runtime.parties import PartyLookup, lookup, org_scope
from engine.schema import Catalog
from engine.schema.model import Party

Make = Callable[..., TicketSnapshot]


@pytest.mark.parametrize(
    ("org", "unit", "expected"),
    [
        (None, "store_sh01", (None, False)),
        ("any", "store_sh01", (None, False)),
        ("ticket", "store_sh01", (("store_sh01",), False)),
        ("nearest", "store_sh01", (("store_sh01", "east", "hq"), True)),
        ("region", "store_sh01", (("east",), False)),
        ("region", "east", (("east",), False)),
        ("store", "east", ((), False)),  # no store above a region
        ("hq", "workshop_a", (("hq",), False)),
        ("ticket", None, ((), False)),
        ("nearest", None, ((), False)),
    ],
)
def test_org_scope(world: Catalog, org: str | None, unit: str | None,
                   expected: tuple[tuple[str, ...] | None, bool]) -> None:
    assert org_scope(org, unit, world.org) == expected


@pytest.mark.parametrize(
    ("party", "changes", "expected"),
    [
        (Party(role="region_manager", org="region"), {"org_unit": "store_hz01"},
         PartyLookup(roles=frozenset({"region_manager"}), org_units=("east",))),
        (Party(role="store_manager", org="nearest"), {"org_unit": "store_hz01"},
         PartyLookup(roles=frozenset({"store_manager"}), org_units=("store_hz01", "east", "hq"), nearest=True)),
        (Party(team="mechanical", role="technician"), {},
         PartyLookup(roles=frozenset({"technician"}), team="mechanical")),
        (Party(user="chen"), {}, PartyLookup(users=frozenset({"chen"}))),
        (Party(relation="requester"), {}, PartyLookup(users=frozenset({"wang"}))),
        (Party(relation="assignee"), {"assignee": "li"}, PartyLookup(users=frozenset({"li"}))),
        (Party(relation="assignee"), {}, PartyLookup(users=frozenset())),
        (Party(relation="team_member"), {}, PartyLookup(team="mechanical")),
        (Party(relation="team_member", team="electrical"), {}, PartyLookup(users=frozenset())),
        (Party(relation="team_member"), {"team": None}, PartyLookup(users=frozenset())),
        (Party(relation="org_manager"), {"org_unit": "store_sh01"},
         PartyLookup(roles=frozenset({"store_manager"}), org_units=("store_sh01",))),
        (Party(relation="org_manager"), {"org_unit": "east"},
         PartyLookup(roles=frozenset({"region_manager"}), org_units=("east",))),
        (Party(relation="org_manager"), {"org_unit": "hq"}, PartyLookup(users=frozenset())),  # no manager_role
        (Party(role="region_manager", org="region"), {"org_unit": "factory"}, PartyLookup(users=frozenset())),
    ],
)
def test_lookup(world: Catalog, ticket: Make, party: Party, changes: dict[str, object],
                expected: PartyLookup) -> None:
    found = lookup(world, party, ticket(**changes))
    assert found == expected
    assert found.nobody is (expected.users == frozenset())
