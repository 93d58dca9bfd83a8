"""Flow model: the states a ticket moves through, who moves it, approvals and routing.

Its checks live in ``flow_checks``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta

from ..model import Base, Condition, Id, Label, Party, Priority

__all__ = [
    "CATEGORIES",
    "CLOSING",
    "Approval",
    "ApprovalLevel",
    "Assignment",
    "Effects",
    "FlowSpec",
    "RoutingRule",
    "State",
    "Transition",
    "Who",
]

Category = Literal["open", "active", "waiting", "resolved", "closed", "cancelled"]
CATEGORIES: tuple[str, ...] = ("open", "active", "waiting", "resolved", "closed", "cancelled")
CLOSING: frozenset[str] = frozenset({"resolved", "closed", "cancelled"})


class State(Base, frozen=True, kw_only=True):
    """A state of the flow; its category drives colours, queues, SLA clocks and reports."""

    id: Id
    label: Label | None = None
    category: Annotated[Category, Meta(description="open, active, waiting, resolved, closed or cancelled.")]
    description: Label | None = None


class Who(Base, frozen=True, kw_only=True):
    """Who may perform a transition: holders of any listed role, or anyone in a listed relation."""

    roles: list[Id] = []
    relations: Annotated[
        list[Literal["requester", "assignee", "team_member", "org_manager"]],
        Meta(description="requester, assignee, team_member (of the ticket's team), org_manager (of its org unit)."),
    ] = []


class Assignment(Party, frozen=True, kw_only=True):
    """Where work goes: a team and/or a person, picked by a strategy among the candidates."""

    strategy: Annotated[
        Literal["fixed", "round_robin", "least_loaded"],
        Meta(description="fixed (the named user, or the team's queue), round_robin, least_loaded (fewest open)."),
    ] = "fixed"


class Effects(Base, frozen=True, kw_only=True):
    """Changes a transition makes to the ticket."""

    fields: Annotated[dict[str, Any], Meta(description="Field values to set.")] = {}
    priority: Priority | None = None
    assign: Assignment | None = None
    unassign: bool = False
    reroute: Annotated[bool, Meta(description="Run the routing rules again.")] = False


StateOrAny = Annotated[str, Meta(pattern=r"^([a-z][a-z0-9_]*|\*)$", max_length=64)]


class Transition(Base, frozen=True, kw_only=True, rename={"from_": "from"}):
    """A move from one or more states to another, offered as a button to those allowed."""

    id: Id
    label: Label | None = None
    from_: Annotated[
        list[Id] | StateOrAny,
        Meta(description="State(s) it starts from; '*' for every state that is not closing."),
    ] = ""
    to: Id
    who: Who = Who()
    when: Annotated[Condition | None, Meta(description="Offered only while this condition holds.")] = None
    require: Annotated[list[Id], Meta(description="Fields that must be filled to perform it.")] = []
    comment: Literal["none", "optional", "required"] = "optional"
    set: Effects | None = None

    def sources(self, states: list[str]) -> list[str]:
        if self.from_ == "*":
            return states
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


class ApprovalLevel(Base, frozen=True, kw_only=True):
    """One level of an approval; levels run in order."""

    id: Id
    label: Label | None = None
    approvers: Party
    mode: Annotated[Literal["any", "all"], Meta(description="any: one approval suffices; all: everyone.")] = "any"
    when: Annotated[Condition | None, Meta(description="The level applies only while this holds.")] = None
    on_rejected: Annotated[Id | None, Meta(description="State a rejection at this level leads to.")] = None


class Approval(Base, frozen=True, kw_only=True):
    """Approval in levels, run while the ticket is in a waiting state."""

    id: Id
    label: Label | None = None
    state: Annotated[Id, Meta(description="The waiting state in which approval happens.")]
    levels: Annotated[list[ApprovalLevel], Meta(min_length=1)]
    on_approved: Id
    on_rejected: Id


class RoutingRule(Base, frozen=True, kw_only=True):
    """A rule that dispatches new tickets; the first that matches wins, a rule without `when` is the default."""

    id: Id
    when: Condition | None = None
    assign: Assignment


class FlowSpec(Base, frozen=True, kw_only=True):
    """States, transitions, approvals and routing of a kind of work."""

    label: Label | None = None
    description: Label | None = None
    initial: Id
    states: Annotated[list[State], Meta(min_length=1)]
    transitions: list[Transition] = []
    approvals: list[Approval] = []
    routing: list[RoutingRule] = []
