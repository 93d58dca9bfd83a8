"""Routing: ordered rules by device type, and deterministic strategies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from engine.runtime.model import TicketSnapshot
from engine.runtime.parties import PartyLookup
from engine.runtime.routing import Candidate, RouteDecision, choose, decide_route, match_rule, route_request
from engine.schema import Catalog
from engine.schema.kinds.flow import Assignment

Make = Callable[..., TicketSnapshot]
T0 = datetime(2026, 3, 2, 9, 0)


@pytest.mark.parametrize(
    ("device_type", "rule", "team", "strategy"),
    [
        ("moulding", "moulding_to_mechanical", "mechanical", "least_loaded"),
        ("conveyor", "moulding_to_mechanical", "mechanical", "least_loaded"),
        ("electrical", "circuits_to_electricians", "electrical", "round_robin"),
        ("control_cabinet", "circuits_to_electricians", "electrical", "round_robin"),
        ("press", "default", "mechanical", "fixed"),
    ],
)
def test_match_rule_by_device_type(world: Catalog, device_type: str, rule: str, team: str,
                                   strategy: str) -> None:
    found = match_rule(world, "equipment_repair", {"device_type": device_type, "state": "reported"})
    assert found is not None
    assert (found.id, found.assign.team, found.assign.strategy) == (rule, team, strategy)


def test_no_rules_no_match(world: Catalog) -> None:
    assert match_rule(world, "purchase", {"amount": 1}) is None


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([], None),
        ([Candidate("li", 3), Candidate("liu", 1), Candidate("wu", 2)], "liu"),
        # equal load: least recently assigned, never-assigned first
        ([Candidate("li", 1, T0), Candidate("liu", 1, T0 - timedelta(hours=1))], "liu"),
        ([Candidate("li", 1, T0), Candidate("liu", 1, None)], "liu"),
        # equal load and time: username
        ([Candidate("liu", 1, T0), Candidate("li", 1, T0)], "li"),
    ],
)
def test_least_loaded(candidates: list[Candidate], expected: str | None) -> None:
    assert choose("least_loaded", candidates) == expected


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([Candidate("a", 0, T0), Candidate("b", 9, T0 - timedelta(minutes=5))], "b"),  # load ignored
        ([Candidate("a", 0, T0), Candidate("c", 0, None), Candidate("b", 0, None)], "b"),
        ([Candidate("b", 0, T0), Candidate("a", 0, T0)], "a"),
    ],
)
def test_round_robin(candidates: list[Candidate], expected: str) -> None:
    assert choose("round_robin", candidates) == expected


def test_fixed() -> None:
    assert choose("fixed", [Candidate("chen")], user="chen") == "chen"
    assert choose("fixed", [], user="chen") is None  # deactivated: falls back to the queue
    assert choose("fixed", [Candidate("wang"), Candidate("an")]) == "an"
    with pytest.raises(ValueError, match="unknown routing strategy 'random'"):
        choose("random", [Candidate("a")])


def test_decide_route_for_rules(world: Catalog, ticket: Make) -> None:
    rule = match_rule(world, "equipment_repair", {"device_type": "moulding"})
    assert rule is not None
    request = route_request(world, rule.assign, ticket(), rule.id)
    assert request.candidates == PartyLookup(team="mechanical")
    assert request.needs_candidates
    decision = decide_route(request, [Candidate("li", 4), Candidate("liu", 2)])
    assert decision == RouteDecision("moulding_to_mechanical", "mechanical", "liu", "least_loaded")


def test_team_queue_needs_no_candidates(world: Catalog, ticket: Make) -> None:
    request = route_request(world, Assignment(team="mechanical"), ticket(), "default")
    assert not request.needs_candidates
    assert decide_route(request, [Candidate("li")]) == RouteDecision("default", "mechanical", None, "fixed")


def test_route_to_requester(world: Catalog, ticket: Make) -> None:
    request = route_request(world, Assignment(relation="requester"), ticket())
    assert request.candidates == PartyLookup(users=frozenset({"wang"}))
    assert decide_route(request, [Candidate("wang")]) == RouteDecision(None, None, "wang", "fixed")
