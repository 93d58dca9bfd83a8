"""Role: which ticket types a role may raise, see and handle, and how far its view reaches."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from ..diagnostics import did_you_mean
from ..model import Base, Label, Name
from .base import Context, KindInfo, document_type

__all__ = ["ACTIONS", "KIND", "SCOPES", "Action", "Grant", "RoleSpec", "Scope"]

Action = Literal["create", "view", "comment", "assign", "edit"]
ACTIONS: tuple[str, ...] = ("create", "view", "comment", "assign", "edit")
Scope = Literal["own", "assigned", "team", "org_unit", "org_subtree", "all"]
SCOPES: tuple[str, ...] = ("own", "assigned", "team", "org_unit", "org_subtree", "all")


class Grant(Base, frozen=True, kw_only=True):
    """What a role may do with some ticket types, and on which tickets."""

    types: Annotated[
        list[Name] | Literal["*"], Meta(description="Ticket type names, or '*' for every type.")
    ]
    actions: Annotated[
        list[Action],
        Meta(description="create, view, comment (incl. internal notes), assign (dispatch), edit (change fields)."),
    ]
    scope: Annotated[
        Scope,
        Meta(
            description=(
                "Which tickets: own (raised by the user), assigned (to the user), team (of the user's teams), "
                "org_unit (of the user's unit), org_subtree (the user's unit and below), all."
            )
        ),
    ] = "own"


class RoleSpec(Base, frozen=True, kw_only=True):
    """A role held by users; transitions and approvals name roles to say who may act."""

    label: Label
    description: Label | None = None
    admin: Annotated[bool, Meta(description="May see the definitions pages and dead-lettered notifications.")] = False
    permissions: list[Grant] = []
    see_sensitive: Annotated[
        list[str] | Literal["*"],
        Meta(description="Sensitive fields shown unmasked: 'type.field', a field id on any type, or '*'."),
    ] = []


def check(ctx: Context) -> None:
    types = ctx.named("TicketType")
    all_fields = {f.id for t in types.values() for f in t.spec.fields}
    for d in ctx.of("Role"):
        spec: RoleSpec = d.spec
        for i, grant in enumerate(spec.permissions):
            if grant.types == "*":
                continue
            for j, name in enumerate(grant.types):
                if name not in types:
                    ctx.report(d.diag("E401", ("spec", "permissions", i, "types", j),
                                      f"role '{d.name}' names unknown ticket type '{name}'",
                                      did_you_mean(name, types)))
        if spec.see_sensitive != "*":
            for j, ref in enumerate(spec.see_sensitive):
                at = ("spec", "see_sensitive", j)
                type_name, _, field = ref.rpartition(".")
                if type_name:
                    t = types.get(type_name)
                    if t is None:
                        ctx.report(d.diag("E402", at, f"grant names unknown ticket type '{type_name}'",
                                          did_you_mean(type_name, types)))
                    elif field not in {f.id for f in t.spec.fields}:
                        ctx.report(d.diag("E402", at, f"ticket type '{type_name}' has no field '{field}'",
                                          did_you_mean(field, [f.id for f in t.spec.fields])))
                elif field not in all_fields:
                    ctx.report(d.diag("E402", at, f"no ticket type has a field '{field}'",
                                      did_you_mean(field, all_fields)))
        if not spec.permissions and not spec.admin:
            ctx.report(d.diag("W403", ("spec",), f"role '{d.name}' grants nothing",
                              "add permissions, or remove the role"))


KIND = KindInfo(
    name="Role",
    folder="roles",
    spec=RoleSpec,
    document=document_type("Role", RoleSpec, "A role: what its holders may raise, see and do."),
    check=check,
)
