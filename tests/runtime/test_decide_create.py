"""Creating a ticket: permission, title, field data, defaults, routing, every problem at once."""

from __future__ import annotations

from typing import Any

import pytest

from engine.runtime.decide import decide_create
from engine.runtime.errors import InvalidInput, PermissionDenied
from engine.runtime.model import Actor
from engine.runtime.parties import PartyLookup
from engine.runtime.plans import Event
from engine.schema import Catalog

REPAIR = {"device_no": "MO-0042", "device_type": "moulding"}


def _errors(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in exc.value.errors]


def test_worker_reports_a_moulding_machine(world: Catalog, people: dict[str, Actor]) -> None:
    plan = decide_create(world, people["wang"], "equipment_repair", "  Press 3 stops  ",
                         {**REPAIR, "device_model": "", "fault_description": None})
    assert (plan.type, plan.title, plan.state, plan.priority) == ("equipment_repair", "Press 3 stops",
                                                                  "reported", "high")
    assert (plan.requester, plan.org_unit, plan.definition_version) == ("wang", "workshop_a", world.version)
    assert plan.fields == {**REPAIR, "stopped": False}  # empties dropped, default filled
    assert plan.route is not None
    assert (plan.route.rule_id, plan.route.assignment.strategy) == ("moulding_to_mechanical", "least_loaded")
    assert plan.route.candidates == PartyLookup(team="mechanical")
    assert plan.approval is None
    assert plan.events == (Event("created", {"type": "equipment_repair", "title": "Press 3 stops",
                                             "state": "reported", "priority": "high", "org_unit": "workshop_a",
                                             "fields": {**REPAIR, "stopped": False}}),)


@pytest.mark.parametrize(
    ("device_type", "rule"),
    [("electrical", "circuits_to_electricians"), ("press", "default"), ("conveyor", "moulding_to_mechanical")],
)
def test_routing_rule_follows_device_type(world: Catalog, people: dict[str, Actor], device_type: str,
                                          rule: str) -> None:
    plan = decide_create(world, people["wang"], "equipment_repair", "Broken",
                         {**REPAIR, "device_type": device_type})
    assert plan.route is not None and plan.route.rule_id == rule


def test_given_priority_org_unit_and_stripped_text(world: Catalog, people: dict[str, Actor]) -> None:
    plan = decide_create(world, people["wang"], "equipment_repair", "Broken",
                         {**REPAIR, "device_no": " MO-0042 ", "stopped": True}, priority="urgent",
                         org_unit="factory")
    assert (plan.priority, plan.org_unit, plan.fields["device_no"], plan.fields["stopped"]) == (
        "urgent", "factory", "MO-0042", True)


def test_every_problem_at_once(world: Catalog, people: dict[str, Actor]) -> None:
    with pytest.raises(InvalidInput) as exc:
        decide_create(world, people["wang"], "equipment_repair", "   ",
                      {"device_no": "mo-42", "colour": "red"}, priority="asap", org_unit="mars")
    assert _errors(exc) == [
        ("title", "is required"),
        ("priority", "must be one of: low, normal, high, urgent"),
        ("org_unit", "unknown org unit 'mars'"),
        ("fields.colour", "is not a field of this ticket type"),
        ("fields.device_no", "does not have the required format"),
        ("fields.device_type", "is required"),
    ]


def test_title_longer_than_the_type_allows(world: Catalog, people: dict[str, Actor]) -> None:
    with pytest.raises(InvalidInput) as exc:
        decide_create(world, people["wang"], "equipment_repair", "x" * 41, REPAIR)
    assert _errors(exc) == [("title", "must be at most 40 characters")]


def test_unknown_type(world: Catalog, people: dict[str, Actor]) -> None:
    with pytest.raises(InvalidInput) as exc:
        decide_create(world, people["wang"], "equipment_repiar", "Broken", REPAIR)
    assert _errors(exc) == [("type", "unknown ticket type 'equipment_repiar'")]


@pytest.mark.parametrize("who", ["li", "audit", "nobody"])
def test_only_roles_with_create_may_create(world: Catalog, people: dict[str, Actor], who: str) -> None:
    with pytest.raises(PermissionDenied, match=r"^you may not create 'equipment_repair' tickets$"):
        decide_create(world, people[who], "equipment_repair", "Broken", REPAIR)


def test_expense_claim_routes_to_the_finance_queue(world: Catalog, people: dict[str, Actor]) -> None:
    fields: dict[str, Any] = {"amount": 120.5, "reason": "Taxi", "bank_account": "622202123456789"}
    plan = decide_create(world, people["emp"], "expense_claim", "Taxi to the Hangzhou store", fields)
    assert (plan.state, plan.priority, plan.org_unit) == ("draft", "normal", "store_hz01")
    assert plan.route is not None and not plan.route.needs_candidates
    assert plan.route.assignment.team == "finance"
