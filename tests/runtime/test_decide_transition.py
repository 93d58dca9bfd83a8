"""Moving a ticket through its flow: who, from where, when, with which data, and what it changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.runtime.decide import available_transitions, decide_transition
from engine.runtime.errors import InvalidInput, NotFound, PermissionDenied, StaleTicket, TransitionNotAllowed
from engine.runtime.model import Actor, TicketSnapshot
from engine.runtime.parties import PartyLookup
from engine.runtime.plans import Event, require_fresh
from engine.schema import Catalog

Make = Callable[..., TicketSnapshot]
REPAIR = {"device_no": "MO-0042", "device_type": "moulding", "stopped": False}


def _errors(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in exc.value.errors]


@pytest.mark.parametrize(
    ("who", "changes", "expected"),
    [
        ("li", {}, ["accept"]),
        ("zhao", {}, []),  # cannot see another team's ticket
        ("zhao", {"assignee": "zhao"}, ["accept"]),
        ("wang", {}, ["cancel"]),
        ("chen", {}, ["reassign", "hand_to_electrical", "cancel"]),  # no 'rush' while running
        ("chen", {"fields": {**REPAIR, "stopped": True}}, ["rush", "reassign", "hand_to_electrical", "cancel"]),
        ("li", {"state": "in_repair", "assignee": "li"}, ["complete"]),
        ("liu", {"state": "in_repair", "assignee": "li"}, []),
        ("wang", {"state": "done"}, ["confirm", "reopen"]),
        ("chen", {"state": "done"}, ["confirm"]),
        ("chen", {"state": "closed"}, []),
    ],
)
def test_available_transitions(world: Catalog, people: dict[str, Actor], ticket: Make, who: str,
                               changes: dict[str, object], expected: list[str]) -> None:
    assert [t.id for t in available_transitions(world, people[who], ticket(**changes))] == expected


def test_technician_accepts_from_the_team_queue(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    plan = decide_transition(world, people["li"], ticket(), "accept")
    assert (plan.ticket_id, plan.row_version, plan.transition) == (1, 3, "accept")
    assert (plan.from_state, plan.to_state, plan.assignee, plan.unassign) == ("reported", "accepted", "li", False)
    assert (plan.route, plan.approval, plan.cancel_approval, plan.comment) == (None, None, False, None)
    assert plan.events == (
        Event("transition", {"transition": "accept", "from": "reported", "to": "accepted", "comment": None}),
        Event("assigned", {"assignee": {"before": None, "after": "li"}}),
    )


def test_assignee_accepting_keeps_the_assignment(world: Catalog, people: dict[str, Actor],
                                                 ticket: Make) -> None:
    plan = decide_transition(world, people["liu"], ticket(assignee="liu"), "accept")
    assert plan.assignee is None
    assert [e.kind for e in plan.events] == ["transition"]


def test_complete_is_refused_from_reported(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(TransitionNotAllowed, match=r"^'complete' is not possible from state 'reported'$"):
        decide_transition(world, people["li"], ticket(assignee="li"), "complete")


def test_complete_is_for_the_assignee(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(PermissionDenied, match=r"^you may not perform 'complete'; it is for the assignee$"):
        decide_transition(world, people["liu"], ticket(state="in_repair", assignee="li"), "complete")


def test_complete_needs_parts_and_cost_then_succeeds(world: Catalog, people: dict[str, Actor],
                                                     ticket: Make) -> None:
    t = ticket(state="in_repair", assignee="li")
    with pytest.raises(InvalidInput) as exc:
        decide_transition(world, people["li"], t, "complete", {"parts_used": "  "})
    assert _errors(exc) == [("fields.parts_used", "is required"), ("fields.repair_cost", "is required")]
    with pytest.raises(InvalidInput) as exc:
        decide_transition(world, people["li"], t, "complete", {"parts_used": "Bearing", "repair_cost": -5})
    assert _errors(exc) == [("fields.repair_cost", "must be at least 0")]

    plan = decide_transition(world, people["li"], t, "complete", {"parts_used": "Bearing", "repair_cost": 80},
                             comment=" Replaced the bearing ")
    assert (plan.to_state, plan.comment) == ("done", "Replaced the bearing")
    assert plan.fields == {**REPAIR, "parts_used": "Bearing", "repair_cost": 80}
    assert plan.events == (
        Event("transition", {"transition": "complete", "from": "in_repair", "to": "done",
                             "comment": "Replaced the bearing"}),
        Event("fields_changed", {"changes": {"parts_used": {"before": None, "after": "Bearing"},
                                             "repair_cost": {"before": None, "after": 80}}}),
    )


def test_comment_rules(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(InvalidInput) as exc:
        decide_transition(world, people["wang"], ticket(state="done"), "reopen", comment="  ")
    assert _errors(exc) == [("comment", "is required")]
    with pytest.raises(InvalidInput) as exc:
        decide_transition(world, people["li"], ticket(), "accept", comment="On my way")
    assert _errors(exc) == [("comment", "is not taken by this step")]


def test_condition_must_hold(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(TransitionNotAllowed, match=r"^'rush' is not possible now: its condition does not hold$"):
        decide_transition(world, people["chen"], ticket(), "rush")
    plan = decide_transition(world, people["chen"], ticket(fields={**REPAIR, "stopped": True}), "rush")
    assert (plan.from_state, plan.to_state, plan.priority) == ("reported", "reported", "urgent")
    assert plan.fields["escalated"] is True
    assert [e.kind for e in plan.events] == ["transition", "fields_changed", "priority_changed"]
    assert plan.events[2] == Event("priority_changed", {"before": "high", "after": "urgent"})


def test_reassign_unassigns_and_reroutes(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    t = ticket(state="accepted", assignee="li", fields={**REPAIR, "device_type": "electrical"})
    plan = decide_transition(world, people["chen"], t, "reassign")
    assert (plan.to_state, plan.unassign, plan.assignee) == ("reported", True, None)
    assert plan.route is not None
    assert (plan.route.rule_id, plan.route.candidates) == ("circuits_to_electricians", PartyLookup(team="electrical"))
    assert plan.events[-1] == Event("assigned", {"assignee": {"before": "li", "after": None}})


def test_transition_with_its_own_assignment(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    plan = decide_transition(world, people["chen"], ticket(), "hand_to_electrical")
    assert plan.route is not None
    assert (plan.route.rule_id, plan.route.assignment.strategy) == (None, "round_robin")


def test_unknown_transition_and_invisible_ticket(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(NotFound, match=r"^flow 'repair' has no transition 'fly'$"):
        decide_transition(world, people["li"], ticket(), "fly")
    with pytest.raises(NotFound, match=r"^ticket T-1 not found$"):
        decide_transition(world, people["zhao"], ticket(), "accept")
    with pytest.raises(NotFound, match=r"^ticket type 'gone' is not defined$"):
        decide_transition(world, people["li"], ticket(type="gone"), "accept")


def test_fields_beyond_the_required_need_edit(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(InvalidInput) as exc:
        decide_transition(world, people["wang"], ticket(state="done"), "confirm", {"fault_description": "ok"})
    assert _errors(exc) == [("fields.fault_description", "cannot be changed by this step")]
    t = ticket(state="in_repair", assignee="li")
    with pytest.raises(InvalidInput) as exc:
        decide_transition(world, people["li"], t, "complete",
                          {"parts_used": "Belt", "repair_cost": 10, "device_model": "X1"})
    assert _errors(exc) == [("fields.device_model", "cannot be changed in state 'in_repair'")]
    plan = decide_transition(world, people["li"], t, "complete",
                             {"parts_used": "Belt", "repair_cost": 10, "fault_description": "Worn belt"})
    assert plan.fields["fault_description"] == "Worn belt"


def test_stale_version(ticket: Make) -> None:
    require_fresh(ticket(), 3)
    require_fresh(ticket(), None)
    with pytest.raises(StaleTicket, match=r"^ticket T-1 was changed by someone else "):
        require_fresh(ticket(), 2)
