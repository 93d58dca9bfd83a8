"""Report: figures over tickets — which tickets, grouped by what, measured how, drawn as what.

A report counts the tickets of some types whose time (created or resolved) falls in a range,
optionally narrowed by a condition, grouped by up to two dimensions, with one or more measures
per group. Who may open it is a list of roles; every figure is cut to the reader's row scope at
run time (see ``engine.runtime.reports``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from msgspec import Meta

from ..conditions import Cond, FieldFacts, make_checker, parse_condition
from ..diagnostics import did_you_mean
from ..model import Base, Condition, Id, Label, Name
from .base import Context, KindInfo, Loaded, document_type
from .flow import CATEGORIES
from .org import walk_units
from .sla import parse_duration
from .ticket_type import field_facts, report_problems

__all__ = [
    "BUILTIN_DIMENSIONS",
    "GROUPABLE_FIELD_TYPES",
    "KIND",
    "MEASURES",
    "RANGES",
    "TIME_BUCKETS",
    "Chart",
    "CompiledReport",
    "Dimension",
    "MeasureInfo",
    "ReportDimension",
    "ReportSpec",
    "TimeRange",
    "compile_report",
    "compile_reports",
]

RangeName = Literal[
    "today", "yesterday", "last_7_days", "last_30_days", "last_90_days", "this_week", "last_week",
    "this_month", "last_month", "this_quarter", "last_quarter", "this_year", "all",
]
RANGES: tuple[str, ...] = (
    "today", "yesterday", "last_7_days", "last_30_days", "last_90_days", "this_week", "last_week",
    "this_month", "last_month", "this_quarter", "last_quarter", "this_year", "all",
)
TIME_BUCKETS: tuple[str, ...] = ("day", "week", "month")
# Columns of every ticket a report can group by, then the time buckets.
BUILTIN_DIMENSIONS: tuple[str, ...] = (
    "type", "state", "state_category", "team", "assignee", "priority", "org_unit", *TIME_BUCKETS,
)
# Field types whose values are few and named: grouping by them makes sense (text: e.g. a device model).
GROUPABLE_FIELD_TYPES: tuple[str, ...] = ("select", "multiselect", "boolean", "user", "team", "org_unit", "text")
MAX_DIMENSIONS = 2
MAX_DAYS = 1000  # as many day buckets as a report may have (engine.runtime.reports.MAX_BUCKETS)


@dataclass(frozen=True)
class MeasureInfo:
    """What a measure yields (count, percent or seconds) and which SLA target it needs, if any."""

    unit: Literal["count", "percent", "seconds"]
    sla_metric: Literal["resolution", "first_response"] | None = None


MEASURES: dict[str, MeasureInfo] = {
    "created": MeasureInfo("count"),
    "resolved": MeasureInfo("count"),
    "backlog": MeasureInfo("count"),
    "resolution_rate": MeasureInfo("percent"),
    "overdue": MeasureInfo("count", "resolution"),
    "overdue_rate": MeasureInfo("percent", "resolution"),
    "sla_compliance": MeasureInfo("percent", "resolution"),
    "response_overdue_rate": MeasureInfo("percent", "first_response"),
    "response_sla_compliance": MeasureInfo("percent", "first_response"),
    "mean_first_response": MeasureInfo("seconds"),
    "median_first_response": MeasureInfo("seconds"),
    "p90_first_response": MeasureInfo("seconds"),
    "mean_resolution": MeasureInfo("seconds"),
    "median_resolution": MeasureInfo("seconds"),
    "p90_resolution": MeasureInfo("seconds"),
    "reopens": MeasureInfo("count"),
}


class TimeRange(Base, frozen=True, kw_only=True, rename={"from_": "from"}):
    """An absolute range of days in the organisation's time zone, both ends included."""

    from_: Annotated[str, Meta(description="First day, YYYY-MM-DD.")]
    to: Annotated[str, Meta(description="Last day, YYYY-MM-DD (included).")]


class Dimension(Base, frozen=True, kw_only=True):
    """A dimension with options: what to group by, an org level to roll up to, a column heading."""

    by: Annotated[
        Id,
        Meta(
            description=(
                "type, state, state_category, team, assignee, priority, org_unit, day, week, month, or the id of a "
                "select, multiselect, boolean, user, team, org_unit or text field of the report's types."
            )
        ),
    ]
    level: Annotated[
        Id | None,
        Meta(
            description=(
                "For org_unit (or an org_unit field): group each ticket under its unit at this level of the org "
                "tree, e.g. region (store → region)."
            )
        ),
    ] = None
    label: Annotated[Label | None, Meta(description="Column heading; default: the dimension's own name.")] = None


class Chart(Base, frozen=True, kw_only=True):
    """How the report is drawn beside its table."""

    type: Annotated[
        Literal["table", "bar", "stacked_bar", "line"],
        Meta(
            description=(
                "table (no chart), bar (one bar per group; grouped by the second dimension), stacked_bar (bars of the "
                "first dimension stacked by the second), line (the first dimension along the axis, one line per "
                "value of the second)."
            )
        ),
    ] = "bar"
    measure: Annotated[Id | None, Meta(description="The measure drawn; default: the report's first measure.")] = None
    target: Annotated[
        float | str | None,
        Meta(
            description=(
                "A target line: a percentage for rates (95 for 95 %), a number for counts, a duration such as 4h "
                "for times."
            )
        ),
    ] = None
    target_label: Annotated[Label | None, Meta(description="Text beside the target line.")] = None


class ReportSpec(Base, frozen=True, kw_only=True):
    """A report: which tickets, grouped by what, measured how, drawn as what, for whom."""

    label: Label
    description: Label | None = None
    types: Annotated[
        list[Name] | Literal["*"], Meta(description="Ticket type names, or '*' for every type.")
    ]
    where: Annotated[
        Condition | None,
        Meta(
            description=(
                "Only tickets matching this condition; besides the types' fields it may test type, state, "
                "state_category, priority, team and org_unit."
            )
        ),
    ] = None
    range: Annotated[
        RangeName | TimeRange,
        Meta(
            description=(
                "Which days, in the organisation's time zone: today, yesterday, last_7_days, last_30_days, "
                "last_90_days (each ending today), this_week, last_week, this_month, last_month, this_quarter, "
                "last_quarter, this_year, all; or {from: YYYY-MM-DD, to: YYYY-MM-DD}."
            )
        ),
    ] = "last_30_days"
    time_field: Annotated[
        Literal["created", "resolved"],
        Meta(description="The ticket time the range and the day/week/month dimensions look at."),
    ] = "created"
    dimensions: Annotated[
        list[Id | Dimension],
        Meta(description="Up to two things to group by: a name (type, org_unit, week, a field id…) or {by, level}."),
    ] = []
    measures: Annotated[
        list[Id],
        Meta(
            min_length=1,
            description=(
                "created, resolved, backlog, resolution_rate, overdue, overdue_rate, sla_compliance, "
                "response_overdue_rate, response_sla_compliance, mean_/median_/p90_first_response, "
                "mean_/median_/p90_resolution, reopens."
            ),
        ),
    ]
    chart: Chart = Chart()
    roles: Annotated[
        list[Id], Meta(description="Roles whose holders see the report on their dashboard (admins see every report).")
    ] = []


# ---------------------------------------------------------------------------------------------
# Compiled form
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportDimension:
    """A resolved dimension: a built-in column, a time bucket, or a field of the report's types."""

    id: str
    kind: Literal["column", "time", "field"]
    field_type: str | None = None  # for kind "field"
    level: str | None = None
    label: Any = None  # Label | None


@dataclass(frozen=True)
class CompiledReport:
    """A checked report: its types resolved, its condition parsed, its dimensions classified."""

    name: str
    spec: ReportSpec
    types: tuple[str, ...]
    where: Cond | None
    dimensions: tuple[ReportDimension, ...]
    measures: tuple[str, ...]
    chart_measure: str
    target: float | None  # in the chart measure's unit (percent, count or seconds)
    facts: dict[str, FieldFacts]

    @property
    def label(self) -> Any:
        return self.spec.label

    @property
    def chart_type(self) -> str:
        """The chart drawn beside the table; a report without dimensions has its table alone."""
        return self.spec.chart.type if self.dimensions else "table"


def _dimension_parts(raw: str | Dimension) -> tuple[str, str | None, Any]:
    return (raw, None, None) if isinstance(raw, str) else (raw.by, raw.level, raw.label)


def _target(raw: float | str | None, unit: str) -> float | None:
    if raw is None:
        return None
    if unit == "seconds":
        minutes = parse_duration(raw) if isinstance(raw, str) else None
        return None if minutes is None else float(minutes * 60)
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def compile_report(name: str, spec: ReportSpec, types: tuple[str, ...], facts: dict[str, FieldFacts]) -> CompiledReport:
    """The compiled form of a checked report (``types`` resolved from ``'*'``, ``facts`` of its fields)."""
    dims = []
    for raw in spec.dimensions:
        by, level, label = _dimension_parts(raw)
        if by in TIME_BUCKETS:
            dims.append(ReportDimension(by, "time", None, None, label))
        elif by in BUILTIN_DIMENSIONS:
            dims.append(ReportDimension(by, "column", None, level, label))
        else:
            dims.append(ReportDimension(by, "field", facts[by].type, level, label))
    where = None
    if spec.where is not None:
        where, problems = parse_condition(spec.where)
        assert not problems, "compile runs only on checked definitions"
    measure = spec.chart.measure or spec.measures[0]
    return CompiledReport(
        name=name, spec=spec, types=types, where=where, dimensions=tuple(dims), measures=tuple(spec.measures),
        chart_measure=measure, target=_target(spec.chart.target, MEASURES[measure].unit), facts=facts,
    )


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


class _Names:
    """What a report's checks resolve against, gathered once per check run."""

    def __init__(self, ctx: Context) -> None:
        self.types = ctx.named("TicketType")
        self.flows = ctx.named("Flow")
        self.slas = ctx.named("SLA")
        self.roles = ctx.named("Role")
        self.teams = tuple(t.id for d in ctx.of("Teams") for t in d.spec.teams)
        self.units = tuple(u.id for d in ctx.of("OrgUnits") for u, _p, _q in walk_units(d.spec.units))
        self.levels = tuple(lv.id for d in ctx.of("OrgUnits") for lv in d.spec.levels)


def report_facts(names: _Names, types: tuple[str, ...]) -> dict[str, FieldFacts]:
    """What a report's condition may test: the fields of its types (first declaration wins) and the columns."""
    facts: dict[str, FieldFacts] = {}
    states: list[str] = []
    for name in types:
        t = names.types[name]
        flow = names.flows.get(t.spec.flow)
        if flow is not None:
            states.extend(s.id for s in flow.spec.states if s.id not in states)
        for key, value in field_facts(t.spec, name, None, (), names.teams or None, names.units or None).items():
            facts.setdefault(key, value)
    facts["type"] = FieldFacts("select", types)
    facts["state"] = FieldFacts("select", tuple(states))
    facts["state_category"] = FieldFacts("select", CATEGORIES)
    facts["team"] = FieldFacts("team", names.teams or None)
    facts["org_unit"] = FieldFacts("org_unit", names.units or None)
    return facts


def report_types(names: _Names, spec: ReportSpec) -> tuple[str, ...]:
    """The report's known types ('*': every type, in name order)."""
    if spec.types == "*":
        return tuple(sorted(names.types))
    return tuple(dict.fromkeys(t for t in spec.types if t in names.types))


def _check_dimensions(ctx: Context, d: Loaded, spec: ReportSpec, names: _Names,
                      facts: dict[str, FieldFacts]) -> None:
    fields = {k: v for k, v in facts.items() if k not in ("type", "state", "state_category", "team", "org_unit")}
    if len(spec.dimensions) > MAX_DIMENSIONS:
        ctx.report(d.diag("E802", ("spec", "dimensions", MAX_DIMENSIONS),
                          f"a report groups by at most {MAX_DIMENSIONS} dimensions",
                          "make a second report for the other dimensions"))
    seen: set[str] = set()
    multiselects = times = 0
    for i, raw in enumerate(spec.dimensions):
        at: tuple[str | int, ...] = ("spec", "dimensions", i)
        by, level, _label = _dimension_parts(raw)
        by_at = at if isinstance(raw, str) else (*at, "by")
        if by in seen:
            ctx.report(d.diag("E802", by_at, f"dimension '{by}' is listed twice"))
        seen.add(by)
        org = by == "org_unit"
        if by in TIME_BUCKETS:
            times += 1
        elif by not in BUILTIN_DIMENSIONS:
            f = fields.get(by)
            if f is None:
                ctx.report(d.diag("E802", by_at, f"unknown dimension '{by}'",
                                  did_you_mean(by, [*BUILTIN_DIMENSIONS, *fields])
                                  or f"use one of: {', '.join(BUILTIN_DIMENSIONS)}, or a field of the report's types"))
                continue
            if f.type not in GROUPABLE_FIELD_TYPES:
                kinds = f"{', '.join(GROUPABLE_FIELD_TYPES[:-1])} or {GROUPABLE_FIELD_TYPES[-1]}"
                ctx.report(d.diag("E802", by_at, f"cannot group by '{by}', a {f.type} field",
                                  f"group by a {kinds} field"))
            multiselects += f.type == "multiselect"
            org = f.type == "org_unit"
        if level is not None:
            if not org:
                ctx.report(d.diag("E802", (*at, "level"), f"level rolls up org units, but '{by}' is not one",
                                  "remove level, or group by org_unit or an org_unit field"))
            elif level not in names.levels:
                ctx.report(d.diag("E308", (*at, "level"), f"dimension '{by}' rolls up to unknown org level '{level}'",
                                  did_you_mean(level, names.levels)
                                  or f"use one of: {', '.join(names.levels) or 'none declared'}"))
    if times > 1:
        ctx.report(d.diag("E802", ("spec", "dimensions"), "a report has at most one of day, week and month"))
    if multiselects > 1:
        ctx.report(d.diag("E802", ("spec", "dimensions"), "a report groups by at most one multiselect field",
                          "each ticket counts once per selected option"))
    if times and spec.range == "all":
        ctx.report(d.diag("E805", ("spec", "range"), "a report grouped by day, week or month needs a bounded range",
                          "use e.g. last_90_days or {from: 2026-01-01, to: 2026-03-31}"))


def _check_measures(ctx: Context, d: Loaded, spec: ReportSpec, names: _Names, types: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for i, m in enumerate(spec.measures):
        at = ("spec", "measures", i)
        if m in seen:
            ctx.report(d.diag("E105", at, f"measure '{m}' is listed twice"))
        seen.add(m)
        info = MEASURES.get(m)
        if info is None:
            ctx.report(d.diag("E803", at, f"unknown measure '{m}'",
                              did_you_mean(m, MEASURES) or f"use one of: {', '.join(MEASURES)}"))
            continue
        if info.sla_metric is None:
            continue
        metric = info.sla_metric.replace("_", " ")
        for t in types:
            sla_name = names.types[t].spec.sla
            sla = names.slas.get(sla_name) if sla_name else None
            if sla_name is None:
                ctx.report(d.diag("E804", at, f"measure '{m}' needs an SLA, but ticket type '{t}' has none",
                                  "give the type an sla, or leave it out of the report"))
            elif sla is not None and not any(tg.metric == info.sla_metric for tg in sla.spec.targets):
                ctx.report(d.diag("E804", at, f"measure '{m}' needs a {metric} target, but SLA '{sla_name}' of "
                                              f"ticket type '{t}' has none",
                                  f"add a target with metric: {info.sla_metric}"))


def _check_range(ctx: Context, d: Loaded, spec: ReportSpec) -> None:
    if isinstance(spec.range, str):
        return
    days: list[dt.date] = []
    for key, text in (("from", spec.range.from_), ("to", spec.range.to)):
        try:
            days.append(dt.date.fromisoformat(text))
        except ValueError:
            ctx.report(d.diag("E805", ("spec", "range", key), f"'{text}' is not a date", "write dates as YYYY-MM-DD"))
    if len(days) == 2 and days[0] > days[1]:
        ctx.report(d.diag("E805", ("spec", "range", "to"), f"range ends on {days[1]}, before it starts on {days[0]}"))
    elif len(days) == 2 and "day" in (_dimension_parts(raw)[0] for raw in spec.dimensions):
        count = (days[1] - days[0]).days + 1
        if count > MAX_DAYS:
            ctx.report(d.diag("E805", ("spec", "range"), f"range has {count} days, more than the {MAX_DAYS} a report "
                                                          "grouped by day may draw", "group by week or month"))


def _check_chart(ctx: Context, d: Loaded, spec: ReportSpec) -> None:
    chart = spec.chart
    at: tuple[str | int, ...] = ("spec", "chart")
    measure = chart.measure or spec.measures[0]
    if chart.measure is not None and chart.measure not in spec.measures:
        ctx.report(d.diag("E806", (*at, "measure"), f"chart draws '{chart.measure}', which is not among the measures",
                          did_you_mean(chart.measure, spec.measures) or "add it to measures"))
        return
    dims = len(spec.dimensions)
    if chart == Chart() and dims == 0:
        pass  # the default chart of a report without dimensions: its table alone
    elif chart.type == "stacked_bar" and dims != 2:
        ctx.report(d.diag("E806", (*at, "type"), "a stacked bar chart needs two dimensions: the bars and their parts",
                          "add a second dimension, or use a bar chart"))
    elif chart.type in ("bar", "line") and dims == 0:
        ctx.report(d.diag("E806", (*at, "type"), f"a {chart.type} chart needs a dimension to draw along",
                          "add a dimension, or use chart type table"))
    info = MEASURES.get(measure)
    if chart.target is None or info is None:
        return
    if info.unit == "seconds":
        if not isinstance(chart.target, str) or parse_duration(chart.target) is None:
            ctx.report(d.diag("E806", (*at, "target"), f"target of '{measure}' must be a duration such as 4h or 1d",
                              None))
    elif not isinstance(chart.target, int | float):
        ctx.report(d.diag("E806", (*at, "target"), f"target of '{measure}' must be a number, not '{chart.target}'"))
    elif info.unit == "percent" and not 0 <= chart.target <= 100:
        ctx.report(d.diag("E806", (*at, "target"), f"target {chart.target:g} of '{measure}' is not a percentage",
                          "write 95 for 95 %"))
    elif chart.target < 0:
        ctx.report(d.diag("E806", (*at, "target"), f"target {chart.target:g} of '{measure}' is below zero"))


def check(ctx: Context) -> None:
    names = _Names(ctx)
    for d in ctx.of("Report"):
        spec: ReportSpec = d.spec
        if spec.types != "*":
            for j, t in enumerate(spec.types):
                if t not in names.types:
                    ctx.report(d.diag("E801", ("spec", "types", j),
                                      f"report '{d.name}' names unknown ticket type '{t}'",
                                      did_you_mean(t, names.types)))
        for j, r in enumerate(spec.roles):
            if r not in names.roles:
                ctx.report(d.diag("E306", ("spec", "roles", j), f"report '{d.name}' names unknown role '{r}'",
                                  did_you_mean(r, names.roles)))
        types = report_types(names, spec)
        facts = report_facts(names, types)
        if spec.where is not None:
            report_problems(ctx, d, make_checker(facts)(spec.where, ("spec", "where")))
        _check_dimensions(ctx, d, spec, names, facts)
        _check_measures(ctx, d, spec, names, types)
        _check_range(ctx, d, spec)
        _check_chart(ctx, d, spec)


def compile_reports(ctx: Context) -> dict[str, CompiledReport]:
    """Every report of a checked set, compiled."""
    names = _Names(ctx)
    out: dict[str, CompiledReport] = {}
    for name, d in sorted(ctx.named("Report").items()):
        types = report_types(names, d.spec)
        out[name] = compile_report(name, d.spec, types, report_facts(names, types))
    return out


KIND = KindInfo(
    name="Report",
    folder="reports",
    spec=ReportSpec,
    document=document_type("Report", ReportSpec, "A report: figures over tickets, grouped and drawn."),
    check=check,
)
