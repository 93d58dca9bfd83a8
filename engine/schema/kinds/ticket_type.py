"""TicketType: a form of fields that a kind of request carries, and the flow it follows."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from msgspec import Meta

from ..conditions import FieldFacts, Problem, make_checker, parse_condition, to_json_schema
from ..diagnostics import did_you_mean
from ..model import PRIORITIES, Base, Condition, Id, Label, Name, Priority
from .base import Context, KindInfo, Loaded, document_type

__all__ = ["KIND", "Field", "FieldType", "Option", "Section", "TicketTypeSpec", "field_facts", "option_values"]

FieldType = Literal[
    "text",
    "textarea",
    "integer",
    "decimal",
    "money",
    "date",
    "datetime",
    "boolean",
    "select",
    "multiselect",
    "email",
    "phone",
    "url",
    "user",
    "team",
    "org_unit",
    "attachment",
]


class Option(Base, frozen=True, kw_only=True):
    """One choice of a select or multiselect field."""

    value: Annotated[str, Meta(min_length=1, max_length=64, description="Stored value, never shown.")]
    label: Label | None = None


class Field(Base, frozen=True, kw_only=True):
    """One field of a ticket type's form."""

    id: Id
    type: Annotated[FieldType, Meta(description="Kind of input and of stored value.")]
    label: Label | None = None
    help: Annotated[Label | None, Meta(description="Shown under the input.")] = None
    placeholder: Label | None = None
    required: Annotated[bool, Meta(description="Must be filled when the field is visible.")] = False
    required_when: Annotated[Condition | None, Meta(description="Required only while this condition holds.")] = None
    visible_when: Annotated[Condition | None, Meta(description="Shown only while this condition holds.")] = None
    default: Annotated[Any, Meta(description="Value filled in when the requester leaves the field empty.")] = None
    options: Annotated[list[str | Option] | None, Meta(description="Choices of a select or multiselect field.")] = None
    min: Annotated[float | None, Meta(description="Smallest allowed number.")] = None
    max: Annotated[float | None, Meta(description="Largest allowed number.")] = None
    min_length: Annotated[int, Meta(ge=0)] | None = None
    max_length: Annotated[int, Meta(ge=1)] | None = None
    pattern: Annotated[str | None, Meta(description="Regular expression the text must match.")] = None
    max_files: Annotated[int, Meta(ge=1, le=50, description="Attachments: how many files.")] | None = None
    accept: Annotated[
        list[str] | None, Meta(description="Attachments: allowed MIME types or patterns, e.g. image/*.")
    ] = None
    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="Money: ISO 4217 code.")] | None = None
    sensitive: Annotated[
        bool, Meta(description="Masked for roles without a grant to see it (see Role.see_sensitive).")
    ] = False
    editable_in: Annotated[
        list[Id] | None,
        Meta(description="States in which the field may be edited after creation; default: every open state."),
    ] = None


class Section(Base, frozen=True, kw_only=True):
    """A group of fields shown together on the form."""

    id: Id
    label: Label | None = None
    fields: list[Id]


class TitleSpec(Base, frozen=True, kw_only=True):
    """How the ticket title is asked for."""

    label: Label | None = None
    placeholder: Label | None = None
    max_length: Annotated[int, Meta(ge=10, le=500)] = 200


class TicketTypeSpec(Base, frozen=True, kw_only=True):
    """A kind of request: its form and the flow it follows."""

    label: Label
    description: Label | None = None
    flow: Annotated[Name, Meta(description="Name of the Flow tickets of this type follow.")]
    default_priority: Priority = "normal"
    sla: Annotated[Name | None, Meta(description="Name of the SLA policy that times these tickets.")] = None
    title: TitleSpec | None = None
    fields: list[Field] = []
    layout: Annotated[list[Section] | None, Meta(description="Sections of the form, in order.")] = None


def option_values(f: Field) -> tuple[str, ...] | None:
    if f.options is None:
        return None
    return tuple(o if isinstance(o, str) else o.value for o in f.options)


def field_facts(
    spec: TicketTypeSpec,
    type_name: str,
    states: tuple[str, ...] | None,
    type_names: tuple[str, ...] = (),
    teams: tuple[str, ...] | None = None,
    org_units: tuple[str, ...] | None = None,
) -> dict[str, FieldFacts]:
    """What conditions may test on a ticket of this type: its fields plus type, state, priority."""
    facts: dict[str, FieldFacts] = {
        "type": FieldFacts("select", tuple(type_names) or (type_name,)),
        "priority": FieldFacts("select", PRIORITIES),
    }
    # With an unknown flow (reported on its own) any state name is accepted rather than cascading.
    facts["state"] = FieldFacts("select", states)
    for f in spec.fields:
        options: tuple[Any, ...] | None = option_values(f)
        if f.type == "team":
            options = teams
        elif f.type == "org_unit":
            options = org_units
        elif f.type == "boolean":
            options = (True, False)
        facts[f.id] = FieldFacts(f.type, options)
    return facts


_SELECTS = ("select", "multiselect")


def _check_field(ctx: Context, t: Loaded, i: int, f: Field) -> None:
    at: tuple[str | int, ...] = ("spec", "fields", i)
    values = option_values(f)
    if f.type in _SELECTS:
        if not values:
            _report(ctx, t, "E210", (*at, "type"), f"{f.type} field '{f.id}' has no options", "add options: [...]")
        else:
            seen: set[str] = set()
            for j, v in enumerate(values):
                if v in seen:
                    _report(ctx, t, "E105", (*at, "options", j), f"option '{v}' appears twice in field '{f.id}'")
                seen.add(v)
    elif values is not None:
        _report(
            ctx,
            t,
            "E210",
            (*at, "options"),
            f"options are only for select and multiselect, not {f.type}",
            "remove options or change the type to select",
        )
    if f.pattern is not None:
        try:
            re.compile(f.pattern)
        except (re.error, OverflowError, RecursionError) as exc:  # a{99999999999} overflows, (((...))) recurses
            why = exc.msg if isinstance(exc, re.error) else "it is too large or nested too deeply"
            _report(ctx, t, "E208", (*at, "pattern"), f"pattern of '{f.id}' is not a valid regular expression: {why}")
    if f.min is not None and f.max is not None and f.min > f.max:
        _report(ctx, t, "E209", (*at, "min"), f"min {f.min:g} is greater than max {f.max:g} in '{f.id}'")
    if f.min_length is not None and f.max_length is not None and f.min_length > f.max_length:
        _report(
            ctx,
            t,
            "E209",
            (*at, "min_length"),
            f"min_length {f.min_length} is greater than max_length {f.max_length} in '{f.id}'",
        )
    if f.type != "attachment" and (f.max_files is not None or f.accept is not None):
        _report(
            ctx,
            t,
            "E210",
            (*at, "max_files" if f.max_files is not None else "accept"),
            f"max_files and accept are only for attachment fields, not {f.type}",
        )
    if f.default is not None:
        problem = _default_problem(f, values)
        if problem:
            _report(ctx, t, "E207", (*at, "default"), f"default of '{f.id}' {problem}")


def _default_problem(f: Field, values: tuple[str, ...] | None) -> str | None:
    d = f.default
    if f.type in ("integer",) and (not isinstance(d, int) or isinstance(d, bool)):
        return f"must be a whole number, not {d!r}"
    if f.type in ("decimal", "money") and (not isinstance(d, int | float) or isinstance(d, bool)):
        return f"must be a number, not {d!r}"
    if f.type == "boolean" and not isinstance(d, bool):
        return f"must be true or false, not {d!r}"
    if f.type == "select" and values is not None and d not in values:
        return f"'{d}' is not one of its options"
    if f.type == "multiselect" and (not isinstance(d, list) or any(v not in (values or ()) for v in d)):
        return "must be a list of its options"
    if f.type == "attachment":
        return "cannot be set: attachments are uploaded"
    if f.type in ("text", "textarea", "email", "phone", "url", "date", "datetime") and not isinstance(d, str):
        return f"must be text, not {d!r}"
    if isinstance(d, int | float) and not isinstance(d, bool):
        if f.min is not None and d < f.min:
            return f"{d} is below min {f.min:g}"
        if f.max is not None and d > f.max:
            return f"{d} is above max {f.max:g}"
    return None


def _report(
    ctx: Context, t: Loaded, code: str, path: tuple[str | int, ...], message: str, hint: str | None = None
) -> None:
    ctx.report(t.diag(code, path, message, hint))


def report_problems(ctx: Context, t: Loaded, problems: list[Problem], seen: set[str] | None = None) -> None:
    for p in problems:
        d = t.diag(p.code, p.path, p.message, p.hint)
        key = d.render()
        if seen is not None:
            if key in seen:
                continue
            seen.add(key)
        ctx.report(d)


def check(ctx: Context) -> None:
    flows = ctx.named("Flow")
    slas = ctx.named("SLA")
    type_names = tuple(ctx.named("TicketType"))
    teams = tuple(t["id"] for t in _team_ids(ctx))
    org_units = tuple(_org_ids(ctx))
    for t in ctx.of("TicketType"):
        spec: TicketTypeSpec = t.spec
        flow = flows.get(spec.flow)
        states: tuple[str, ...] | None = None
        initial: str | None = None
        if flow is None:
            _report(
                ctx,
                t,
                "E201",
                ("spec", "flow"),
                f"ticket type '{t.name}' follows unknown flow '{spec.flow}'",
                did_you_mean(spec.flow, flows),
            )
        else:
            states = tuple(s.id for s in flow.spec.states)
            initial = flow.spec.initial
        if spec.sla is not None and spec.sla not in slas:
            _report(
                ctx,
                t,
                "E212",
                ("spec", "sla"),
                f"ticket type '{t.name}' uses unknown SLA policy '{spec.sla}'",
                did_you_mean(spec.sla, slas),
            )
        seen: set[str] = set()
        for i, f in enumerate(spec.fields):
            if f.id in seen:
                _report(ctx, t, "E105", ("spec", "fields", i, "id"), f"field '{f.id}' is declared twice")
            seen.add(f.id)
            _check_field(ctx, t, i, f)
        facts = field_facts(spec, t.name, states, type_names, teams or None, org_units or None)
        checker = make_checker(facts)
        known = {"type": t.name, "state": initial, "priority": spec.default_priority}
        for i, f in enumerate(spec.fields):
            at: tuple[str | int, ...] = ("spec", "fields", i)
            for key in ("visible_when", "required_when"):
                raw = getattr(f, key)
                if raw is not None:
                    report_problems(ctx, t, checker(raw, (*at, key)))
            if f.required and f.visible_when is not None and initial is not None:
                cond, problems = parse_condition(f.visible_when)
                if not problems and to_json_schema(cond, known) is False:
                    _report(
                        ctx,
                        t,
                        "E206",
                        (*at, "visible_when"),
                        f"required field '{f.id}' is hidden on the create form (state '{initial}')",
                        "use required_when to require it only in the states where it is shown",
                    )
            for j, s in enumerate(f.editable_in or []):
                if states is not None and s not in states:
                    _report(
                        ctx,
                        t,
                        "E203",
                        (*at, "editable_in", j),
                        f"field '{f.id}' names unknown state '{s}'",
                        did_you_mean(s, states),
                    )
        if spec.layout is not None:
            placed: set[str] = set()
            for i, section in enumerate(spec.layout):
                for j, fid in enumerate(section.fields):
                    where = ("spec", "layout", i, "fields", j)
                    if fid not in seen:
                        _report(
                            ctx,
                            t,
                            "E211",
                            where,
                            f"layout section '{section.id}' names unknown field '{fid}'",
                            did_you_mean(fid, seen),
                        )
                    elif fid in placed:
                        _report(ctx, t, "E105", where, f"field '{fid}' is placed in the layout twice")
                    placed.add(fid)
            for i, f in enumerate(spec.fields):
                if f.id not in placed:
                    _report(
                        ctx,
                        t,
                        "W214",
                        ("spec", "fields", i, "id"),
                        f"field '{f.id}' is not placed in any layout section; it is shown last",
                        "add it to a section's fields",
                    )


def _team_ids(ctx: Context) -> list[dict[str, str]]:
    return [{"id": team.id} for d in ctx.of("Teams") for team in d.spec.teams]


def _org_ids(ctx: Context) -> list[str]:
    out: list[str] = []

    def walk(units: list[Any]) -> None:
        for u in units:
            out.append(u.id)
            walk(u.children)

    for d in ctx.of("OrgUnits"):
        walk(d.spec.units)
    return out


KIND = KindInfo(
    name="TicketType",
    folder="forms",
    spec=TicketTypeSpec,
    document=document_type("TicketType", TicketTypeSpec, "A ticket type: its form of fields and the flow it follows."),
    check=check,
)
