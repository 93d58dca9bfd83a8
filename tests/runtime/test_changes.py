"""Edits, reassignment and comments outside the flow."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.runtime.changes import COMMENT_MAX, decide_assign, decide_comment, decide_edit
from engine.runtime.errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from engine.runtime.model import Actor, TicketSnapshot
from engine.runtime.plans import Event
from engine.schema import Catalog

Make = Callable[..., TicketSnapshot]
REPAIR = {"device_no": "MO-0042", "device_type": "moulding", "stopped": False}


def _errors(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in exc.value.errors]


def test_technician_edits_fields_title_and_priority(world: Catalog, people: dict[str, Actor],
                                                    ticket: Make) -> None:
    t = ticket(fields={**REPAIR, "device_model": "X1"})
    plan = decide_edit(world, people["li"], t, {"device_model": "", "fault_description": "Leaks oil"},
                       title=" Press leaks ", priority="urgent")
    assert (plan.ticket_id, plan.row_version, plan.title, plan.priority) == (1, 3, "Press leaks", "urgent")
    assert plan.fields == {**REPAIR, "fault_description": "Leaks oil"}
    assert plan.events == (
        Event("title_changed", {"before": "Something broke", "after": "Press leaks"}),
        Event("priority_changed", {"before": "high", "after": "urgent"}),
        Event("fields_changed", {"changes": {"device_model": {"before": "X1", "after": None},
                                             "fault_description": {"before": None, "after": "Leaks oil"}}}),
    )


def test_nothing_changed_means_no_events(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    plan = decide_edit(world, people["li"], ticket(), {"device_type": "moulding"}, title="Something broke")
    assert plan.events == ()


@pytest.mark.parametrize(
    ("state", "fields", "title", "expected"),
    [
        ("in_repair", {"device_model": "X2"}, None,
         [("fields.device_model", "cannot be changed in state 'in_repair'")]),
        ("done", {"fault_description": "x"}, None,
         [("fields.fault_description", "cannot be changed in state 'done'")]),
        ("done", {}, "New title", [("title", "cannot be changed in state 'done'")]),
        ("reported", {"device_no": "bad", "colour": "red"}, "", [
            ("fields.colour", "is not a field of this ticket type"),
            ("title", "is required"),
            ("fields.device_no", "does not have the required format"),
        ]),
        ("reported", {"device_type": None}, None, [("fields.device_type", "is required")]),
    ],
)
def test_edit_problems(world: Catalog, people: dict[str, Actor], ticket: Make, state: str,
                       fields: dict[str, object], title: str | None, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput) as exc:
        decide_edit(world, people["chen"], ticket(state=state), fields, title=title)
    assert _errors(exc) == expected


def test_edit_permission(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(PermissionDenied, match=r"^you may not edit ticket T-1$"):
        decide_edit(world, people["wang"], ticket(), {"fault_description": "x"})
    with pytest.raises(NotFound, match=r"^ticket T-1 not found$"):
        decide_edit(world, people["zhao"], ticket(), {"fault_description": "x"})


def test_masked_field_cannot_be_edited_blind(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    t = ticket("store_request", fields={"description": "Freezer", "contact_phone": "13812345678"})
    plan = decide_edit(world, people["ma"], t, {"contact_phone": "138****5678", "description": "Freezer off"})
    assert plan.fields == {"description": "Freezer off", "contact_phone": "13812345678"}
    with pytest.raises(InvalidInput) as exc:
        decide_edit(world, people["ma"], t, {"contact_phone": "13900000000"})
    assert _errors(exc) == [("fields.contact_phone", "is masked for you and cannot be changed")]


def test_lead_assigns(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    plan = decide_assign(world, people["chen"], ticket(), assignee="zhao", team="electrical")
    assert (plan.team, plan.assignee) == ("electrical", "zhao")
    assert plan.events == (Event("assigned", {"team": {"before": "mechanical", "after": "electrical"},
                                              "assignee": {"before": None, "after": "zhao"}}),)
    same = decide_assign(world, people["chen"], ticket(), assignee=None, team="mechanical")
    assert same.events == ()


def test_assign_refusals(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    with pytest.raises(PermissionDenied, match=r"^you may not assign ticket T-1$"):
        decide_assign(world, people["li"], ticket(), assignee="li", team="mechanical")
    with pytest.raises(InvalidInput) as exc:
        decide_assign(world, people["chen"], ticket(), assignee=" ", team="plumbing")
    assert _errors(exc) == [("team", "unknown team 'plumbing'"), ("assignee", "must be a username")]
    with pytest.raises(TransitionNotAllowed,
                       match=r"^ticket T-1 is closed \(state 'closed'\) and cannot be reassigned$"):
        decide_assign(world, people["chen"], ticket(state="closed"), assignee="li", team="mechanical")


def test_comments_and_internal_notes(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    plan = decide_comment(world, people["wang"], ticket(), "  Still broken  ")
    assert (plan.body, plan.internal, plan.events) == (
        "Still broken", False, (Event("comment", {"body": "Still broken", "internal": False}),))
    assert decide_comment(world, people["li"], ticket(), "Bearing ordered", internal=True).internal
    with pytest.raises(PermissionDenied, match=r"^you may not write internal notes on ticket T-1$"):
        decide_comment(world, people["wang"], ticket(), "psst", internal=True)
    with pytest.raises(PermissionDenied, match=r"^you may not comment on ticket T-1$"):
        decide_comment(world, people["audit"], ticket(), "hello")
    with pytest.raises(NotFound):
        decide_comment(world, people["zhao"], ticket(), "hello")
    too_long = "x" * (COMMENT_MAX + 1)
    for body, message in (("   ", "is required"), (too_long, f"must be at most {COMMENT_MAX} characters")):
        with pytest.raises(InvalidInput) as exc:
            decide_comment(world, people["wang"], ticket(), body)
        assert _errors(exc) == [("body", message)]
