"""Two-level expense approval: the region manager, then finance (all of them) above 5000."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.runtime.approvals import ApprovalRow, decide_approval, pending_level
from engine.runtime.decide import available_transitions, decide_create, decide_transition
from engine.runtime.errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from engine.runtime.model import Actor, TicketSnapshot
from engine.runtime.parties import PartyLookup
from engine.runtime.plans import ApprovalStep, Event
from engine.schema import Catalog

Make = Callable[..., TicketSnapshot]
MANAGER = ApprovalStep("expense", "manager", "any",
                       PartyLookup(roles=frozenset({"region_manager"}), org_units=("east",)))
FINANCE = ApprovalStep("expense", "finance", "all", PartyLookup(roles=frozenset({"finance_approver"})))


def _claim(ticket: Make, amount: float) -> TicketSnapshot:
    return ticket("expense_claim", state="approval", fields={"amount": amount, "reason": "Trip"})


def test_submit_opens_the_manager_level(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    plan = decide_transition(world, people["emp"], ticket("expense_claim"), "submit")
    assert (plan.to_state, plan.approval, plan.cancel_approval) == ("approval", MANAGER, False)
    assert plan.events[-1] == Event("approval_started", {"approval": "expense", "level": "manager"})


def test_below_5000_one_level_suffices(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    plan = decide_approval(world, people["zhou"], _claim(ticket, 3000), [ApprovalRow("manager", "zhou")],
                           "approve", " fine ")
    assert (plan.approval, plan.level, plan.approver, plan.decision, plan.comment) == (
        "expense", "manager", "zhou", "approved", "fine")
    assert (plan.level_done, plan.to_state, plan.next_step) == (True, "approved", None)
    assert plan.events == (
        Event("approval_decided", {"approval": "expense", "level": "manager", "decision": "approved",
                                   "comment": "fine"}),
        Event("approval_finished", {"approval": "expense", "outcome": "approved"}),
        Event("transition", {"transition": None, "approval": "expense", "from": "approval", "to": "approved"}),
    )


def test_above_5000_finance_approves_too_all_of_them(world: Catalog, people: dict[str, Actor],
                                                     ticket: Make) -> None:
    claim = _claim(ticket, 8000)
    plan = decide_approval(world, people["zhou"], claim,
                           [ApprovalRow("manager", "zhou"), ApprovalRow("manager", "zhou2")], "approve")
    assert (plan.level_done, plan.to_state, plan.next_step) == (True, None, FINANCE)
    assert plan.events[-1] == Event("approval_started", {"approval": "expense", "level": "finance"})

    rows = [ApprovalRow("manager", "zhou", "approved"), ApprovalRow("manager", "zhou2", "cancelled"),
            ApprovalRow("finance", "fin1"), ApprovalRow("finance", "fin2")]
    assert pending_level(world.flows["expense"].approvals["approval"], rows) == "finance"
    first = decide_approval(world, people["fin1"], claim, rows, "approve")
    assert (first.level, first.level_done, first.to_state, first.next_step) == ("finance", False, None, None)
    assert [e.kind for e in first.events] == ["approval_decided"]

    rows[2] = ApprovalRow("finance", "fin1", "approved")
    last = decide_approval(world, people["fin2"], claim, rows, "approve")
    assert (last.level_done, last.to_state) == (True, "approved")


@pytest.mark.parametrize(
    ("rows", "who", "target"),
    [
        ([ApprovalRow("manager", "zhou")], "zhou", "draft"),  # the level sends it back to the requester
        ([ApprovalRow("manager", "zhou", "approved"), ApprovalRow("finance", "fin1"),
          ApprovalRow("finance", "fin2", "approved")], "fin1", "rejected"),  # the approval's on_rejected
    ],
)
def test_reject(world: Catalog, people: dict[str, Actor], ticket: Make, rows: list[ApprovalRow], who: str,
                target: str) -> None:
    plan = decide_approval(world, people[who], _claim(ticket, 8000), rows, "reject", "No receipt")
    assert (plan.decision, plan.level_done, plan.to_state, plan.next_step) == ("rejected", True, target, None)
    assert plan.events[1] == Event("approval_finished", {"approval": "expense", "outcome": "rejected"})


def test_only_pending_approvers_decide(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    claim = _claim(ticket, 8000)
    rows = [ApprovalRow("manager", "zhou")]
    with pytest.raises(PermissionDenied, match=r"^you are not a pending approver of level 'manager' on ticket T-1$"):
        decide_approval(world, people["fin1"], claim, rows, "approve")  # sees it, but not their turn
    with pytest.raises(NotFound, match=r"^ticket T-1 not found$"):
        decide_approval(world, people["li"], claim, rows, "approve")
    with pytest.raises(PermissionDenied):
        decide_approval(world, people["zhou"], claim, [ApprovalRow("manager", "zhou", "approved"),
                                                       ApprovalRow("finance", "fin1")], "approve")


def test_bad_requests(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    rows = [ApprovalRow("manager", "zhou")]
    with pytest.raises(InvalidInput) as exc:
        decide_approval(world, people["zhou"], _claim(ticket, 10), rows, "maybe")
    assert [(e.field, e.message) for e in exc.value.errors] == [("decision", "must be approve or reject")]
    with pytest.raises(TransitionNotAllowed, match=r"^ticket T-1 is not awaiting approval \(state 'draft'\)$"):
        decide_approval(world, people["zhou"], ticket("expense_claim"), rows, "approve")
    with pytest.raises(TransitionNotAllowed, match=r"^no approval is pending on ticket T-1$"):
        decide_approval(world, people["zhou"], _claim(ticket, 10), [ApprovalRow("manager", "zhou", "approved")],
                        "approve")


def test_requester_may_withdraw_during_approval(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    claim = _claim(ticket, 10)
    assert [t.id for t in available_transitions(world, people["emp"], claim)] == ["withdraw"]
    assert available_transitions(world, people["zhou"], claim) == []  # approving is not a transition
    plan = decide_transition(world, people["emp"], claim, "withdraw")
    assert (plan.to_state, plan.cancel_approval) == ("withdrawn", True)
    assert Event("approval_cancelled", {"approval": "expense"}) in plan.events


def test_approval_with_no_applicable_level_passes_through(world: Catalog, people: dict[str, Actor],
                                                          ticket: Make) -> None:
    plan = decide_transition(world, people["emp"], ticket("purchase"), "submit")
    assert (plan.to_state, plan.approval) == ("ordered", None)
    assert [e.kind for e in plan.events] == ["transition", "approval_finished", "transition"]
    assert plan.events[1] == Event("approval_finished", {"approval": "big_purchase", "outcome": "approved",
                                                         "skipped": True})
    big = decide_transition(world, people["emp"], ticket("purchase", fields={"amount": 5000}), "submit")
    assert (big.to_state, big.approval) == (
        "review", ApprovalStep("big_purchase", "finance", "any",
                               PartyLookup(roles=frozenset({"finance_approver"}))))


def test_created_claim_starts_in_draft(world: Catalog, people: dict[str, Actor]) -> None:
    plan = decide_create(world, people["emp"], "expense_claim", "Trip", {"amount": 9000, "reason": "Trip"})
    assert (plan.state, plan.approval) == ("draft", None)
