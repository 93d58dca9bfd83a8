"""Who may see and do what: scopes as data, relations, and the NotFound/PermissionDenied split."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.runtime.errors import NotFound, PermissionDenied
from engine.runtime.model import Actor, TicketSnapshot
from engine.runtime.permissions import (
    ScopeRule,
    ScopeRules,
    can,
    can_create,
    can_note,
    can_view,
    describe_who,
    is_admin,
    may_perform,
    relations,
    require,
    scope_rules,
    visible_types,
)
from engine.schema import Catalog
from engine.schema.kinds.flow import Who

Make = Callable[..., TicketSnapshot]


def _implicit(username: str) -> tuple[ScopeRule, ...]:
    me = frozenset({username})
    return (ScopeRule(None, "own", me), ScopeRule(None, "assigned", me), ScopeRule(None, "approver", me))


def test_store_staff_scope_is_their_own_store(world: Catalog, people: dict[str, Actor]) -> None:
    rules = scope_rules(world, people["xu"])
    assert rules == ScopeRules((
        *_implicit("xu"),
        ScopeRule(frozenset({"store_request"}), "org_units", frozenset({"store_sh01"})),
    ))


def test_region_manager_scope_is_the_region_subtree(world: Catalog, people: dict[str, Actor]) -> None:
    east = frozenset({"east", "store_sh01", "store_hz01"})
    assert scope_rules(world, people["zhou"]).rules == (
        *_implicit("zhou"),
        ScopeRule(frozenset({"expense_claim"}), "org_units", east),
        ScopeRule(frozenset({"store_request"}), "org_units", east),
    )


def test_team_scope_lists_the_actor_teams(world: Catalog, people: dict[str, Actor]) -> None:
    assert scope_rules(world, people["li"]).rules[-1] == ScopeRule(
        frozenset({"equipment_repair"}), "team", frozenset({"mechanical"}))


@pytest.mark.parametrize("who", ["audit", "priv"])
def test_admin_and_view_all_on_every_type_see_everything(world: Catalog, people: dict[str, Actor],
                                                          who: str) -> None:
    rules = scope_rules(world, people[who])
    assert rules == ScopeRules((ScopeRule(None, "all"),))
    assert rules.everything and not rules.nothing


def test_admin_gets_no_action_beyond_viewing(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    audit = people["audit"]
    assert is_admin(world, audit)
    assert can_view(world, audit, ticket())
    assert not can(world, audit, "edit", ticket())
    assert scope_rules(world, audit, "edit").nothing


def test_user_without_roles_sees_only_implicit_tickets(world: Catalog, people: dict[str, Actor]) -> None:
    assert scope_rules(world, people["nobody"]).rules == _implicit("nobody")
    assert scope_rules(world, people["nobody"], "edit").nothing


def test_actor_outside_org_tree_gets_no_org_rule(world: Catalog) -> None:
    drifter = Actor(id=99, username="drifter", roles=frozenset({"store_staff"}))
    assert scope_rules(world, drifter).rules == _implicit("drifter")


@pytest.mark.parametrize(
    ("who", "unit", "visible"),
    [
        ("xu", "store_sh01", True),
        ("xu", "store_gz01", False),  # another store's ticket
        ("he", "store_gz01", True),
        ("ma", "store_sh01", True),
        ("ma", "store_hz01", False),
        ("zhou", "store_sh01", True),  # region manager: the region's stores
        ("zhou", "store_hz01", True),
        ("zhou", "east", True),
        ("zhou", "store_gz01", False),
        ("sun", "store_gz01", True),
        ("sun", "store_sh01", False),
        ("agent_a", "store_gz01", True),
        ("wang", "store_sh01", False),
    ],
)
def test_store_request_visibility(world: Catalog, people: dict[str, Actor], ticket: Make, who: str, unit: str,
                                  visible: bool) -> None:
    t = ticket("store_request", org_unit=unit, requester="someone")
    assert can_view(world, people[who], t) is visible
    assert scope_rules(world, people[who]).matches(t) is visible


@pytest.mark.parametrize(
    ("who", "changes", "visible"),
    [
        ("wang", {}, True),  # requester
        ("wang", {"requester": "other"}, False),
        ("li", {}, True),  # team mechanical
        ("li", {"team": "electrical"}, False),
        ("zhao", {}, False),
        ("zhao", {"assignee": "zhao"}, True),  # assignee, whatever the team
        ("chen", {"team": None}, True),
        ("xu", {}, False),
        ("xu", {"approvers": frozenset({"xu"})}, True),  # asked to approve it
    ],
)
def test_repair_visibility(world: Catalog, people: dict[str, Actor], ticket: Make, who: str,
                           changes: dict[str, object], visible: bool) -> None:
    assert can_view(world, people[who], ticket(**changes)) is visible


@pytest.mark.parametrize(
    ("who", "action", "allowed"),
    [
        ("li", "edit", True),
        ("li", "comment", True),
        ("li", "assign", False),
        ("chen", "assign", True),
        ("wang", "comment", True),
        ("wang", "edit", False),
        ("zhao", "comment", False),  # cannot even see it
        ("wang", "create", True),
        ("li", "create", False),
    ],
)
def test_can(world: Catalog, people: dict[str, Actor], ticket: Make, who: str, action: str,
             allowed: bool) -> None:
    assert can(world, people[who], action, ticket()) is allowed  # type: ignore[arg-type]


def test_requester_and_assignee_may_comment_without_a_grant(world: Catalog, people: dict[str, Actor],
                                                            ticket: Make) -> None:
    t = ticket("store_request", requester="nobody", assignee="zhao", org_unit="store_gz01")
    assert can(world, people["nobody"], "comment", t)
    assert can(world, people["zhao"], "comment", t)
    assert not can_note(world, people["nobody"], t)
    assert can_note(world, people["agent_a"], t)


def test_require_hides_invisible_tickets(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(NotFound, match=r"^ticket T-1 not found$"):
        require(world, people["zhao"], "edit", ticket())
    with pytest.raises(PermissionDenied, match=r"^you may not assign ticket T-1$"):
        require(world, people["li"], "assign", ticket())
    require(world, people["chen"], "assign", ticket())


def test_visible_and_creatable_types(world: Catalog, people: dict[str, Actor]) -> None:
    assert visible_types(world, people["zhou"]) == {"store_request", "expense_claim"}
    assert visible_types(world, people["emp"], "create") == {"expense_claim", "purchase"}
    assert visible_types(world, people["audit"]) == set(world.types)
    assert visible_types(world, people["audit"], "create") == set()
    assert visible_types(world, people["priv"]) == set(world.types)
    assert can_create(world, people["wang"], "equipment_repair")
    assert not can_create(world, people["wang"], "no_such_type")


@pytest.mark.parametrize(
    ("who", "changes", "expected"),
    [
        ("wang", {}, {"requester"}),
        ("li", {"assignee": "li"}, {"assignee", "team_member"}),
        ("zhao", {}, set()),
        ("ma", {"org_unit": "store_sh01"}, {"org_manager"}),
        ("ma", {"org_unit": "store_hz01"}, set()),  # manages another store
        ("zhou", {"org_unit": "store_sh01"}, set()),  # a region manager is not the store's manager
        ("zhou", {"org_unit": "east"}, {"org_manager"}),
        ("xu", {"org_unit": "store_sh01"}, set()),  # sits there but holds no manager role
        ("ma", {"org_unit": None}, set()),
    ],
)
def test_relations(world: Catalog, people: dict[str, Actor], ticket: Make, who: str,
                   changes: dict[str, object], expected: set[str]) -> None:
    assert relations(world, people[who], ticket(**changes)) == expected


def test_may_perform_and_describe_who(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    who = Who(roles=["technician"], relations=["assignee", "org_manager"])
    assert may_perform(world, people["zhao"], ticket(), who)
    assert not may_perform(world, people["wang"], ticket(), who)
    assert may_perform(world, people["wang"], ticket(), Who(relations=["requester"]))
    assert describe_who(who) == "role 'technician' or the assignee or the manager of the ticket's org unit"
    assert describe_who(Who()) == "nobody"
