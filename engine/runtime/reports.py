"""Reports, decided: who may open one, which tickets it covers, and its figures from the grouped sums.

Pure. :func:`plan_report` turns a compiled report, the reader's row scope (the same
:func:`~engine.runtime.permissions.scope_rules` as every list) and the moment into a
:class:`ReportPlan` — data the storage layer turns into SQL for either engine
(:mod:`engine.runtime.storage.reports`). The database returns one row of integer sums per group;
:func:`assemble` derives every rate and mean from those integers here, in Python, so the
figures are the same on SQLite and PostgreSQL to the last digit.

Definitions used by every report (see docs/reports.md):

- A report covers the tickets whose ``time_field`` (created or resolved time) falls in its range;
  the ranges are whole days in the organisation's time zone (``GONGDAN_TIMEZONE``, default
  Asia/Shanghai), the time buckets (day, week from Monday, month) too, DST included.
- resolved: in a resolved or closed state now (cancelled tickets are not resolved); backlog: in
  an open, active or waiting state now.
- A ticket breached its resolution target when ``resolution_due_at`` is set and
  ``coalesce(resolved_at, now) > resolution_due_at``; first response likewise with
  ``first_response_at``/``response_due_at``. Overdue rate = breached / tickets with the due time;
  SLA compliance = 100 % − overdue rate.
- Percentiles are nearest-rank: the P-th percentile of n values is the value at rank
  ⌈P × n / 100⌉ in ascending order (the median of 4 values is the 2nd).
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.schema import Catalog
from engine.schema.conditions import Cond
from engine.schema.kinds.flow import CATEGORIES
from engine.schema.kinds.report import MEASURES, RANGES, CompiledReport, ReportDimension, TimeRange
from engine.schema.kinds.ticket_type import option_values
from engine.schema.model import PRIORITIES

from .errors import InvalidInput, NotFound
from .model import Actor
from .permissions import ScopeRules, is_admin

__all__ = [
    "MAX_BUCKETS",
    "PERCENTILES",
    "Bucket",
    "DimensionPlan",
    "Groups",
    "ReportPlan",
    "ReportResult",
    "ReportRow",
    "Window",
    "assemble",
    "buckets",
    "check_range_override",
    "may_see",
    "plan_report",
    "report_for",
    "report_zone",
    "resolve_window",
    "visible_reports",
]

MAX_BUCKETS = 1000
# Percentiles the measures use, by name suffix.
PERCENTILES: dict[str, int] = {"median": 50, "p90": 90}
_SECONDS_COLUMNS = {"first_response": "first_response_seconds", "resolution": "resolution_seconds"}


def report_zone() -> ZoneInfo:
    """The organisation's time zone: ``GONGDAN_TIMEZONE`` (default Asia/Shanghai), as the pages use it."""
    name = os.environ.get("GONGDAN_TIMEZONE", "Asia/Shanghai")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# ---------------------------------------------------------------------------------------------
# Who sees which report
# ---------------------------------------------------------------------------------------------


def may_see(catalog: Catalog, actor: Actor, report: CompiledReport) -> bool:
    """Whether the report is on the actor's dashboard: a role it lists, or an admin role."""
    return not actor.roles.isdisjoint(report.spec.roles) or is_admin(catalog, actor)


def visible_reports(catalog: Catalog, actor: Actor) -> list[CompiledReport]:
    """The reports the actor may open, in name order."""
    return [r for name, r in sorted(catalog.reports.items()) if may_see(catalog, actor, r)]


def report_for(catalog: Catalog, actor: Actor, name: str) -> CompiledReport:
    """The report ``name``; ``NotFound`` when it does not exist or is not the actor's to see."""
    report = catalog.reports.get(name)
    if report is None or not may_see(catalog, actor, report):
        raise NotFound(f"report {name} not found")
    return report


# ---------------------------------------------------------------------------------------------
# Time: the range and the buckets, in the organisation's time zone
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Whole local days ``first`` … ``last`` (both included) as UTC instants ``[start, end)``."""

    name: str  # a relative range's name, or "custom"
    first: dt.date
    last: dt.date
    start: dt.datetime
    end: dt.datetime


def _instant(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant a local day starts (midnight, or the first moment after a DST gap)."""
    local = dt.datetime.combine(day, dt.time(), zone)
    return local.astimezone(dt.UTC)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _relative(name: str, today: dt.date) -> tuple[dt.date, dt.date]:
    week = today - dt.timedelta(days=today.weekday())
    month = today.replace(day=1)
    quarter = _quarter_start(today)
    spans: dict[str, tuple[dt.date, dt.date]] = {
        "today": (today, today),
        "yesterday": (today - dt.timedelta(days=1), today - dt.timedelta(days=1)),
        "last_7_days": (today - dt.timedelta(days=6), today),
        "last_30_days": (today - dt.timedelta(days=29), today),
        "last_90_days": (today - dt.timedelta(days=89), today),
        "this_week": (week, week + dt.timedelta(days=6)),
        "last_week": (week - dt.timedelta(days=7), week - dt.timedelta(days=1)),
        "this_month": (month, _add_months(month, 1) - dt.timedelta(days=1)),
        "last_month": (_add_months(month, -1), month - dt.timedelta(days=1)),
        "this_quarter": (quarter, _add_months(quarter, 3) - dt.timedelta(days=1)),
        "last_quarter": (_add_months(quarter, -3), quarter - dt.timedelta(days=1)),
        "this_year": (today.replace(month=1, day=1), today.replace(month=12, day=31)),
    }
    return spans[name]


def resolve_window(spec_range: str | TimeRange, now: dt.datetime, zone: ZoneInfo) -> Window | None:
    """The range as instants (None: all time). Relative ranges count from ``now``'s local day."""
    if isinstance(spec_range, TimeRange):
        first, last = dt.date.fromisoformat(spec_range.from_), dt.date.fromisoformat(spec_range.to)
        name = "custom"
    elif spec_range == "all":
        return None
    else:
        first, last = _relative(spec_range, now.astimezone(zone).date())
        name = spec_range
    return Window(name, first, last, _instant(first, zone), _instant(last + dt.timedelta(days=1), zone))


@dataclass(frozen=True)
class Bucket:
    """One day, week or month of a report: its first local day, and where it starts and ends (UTC)."""

    first: dt.date
    last: dt.date
    start: dt.datetime
    end: dt.datetime


def _next_start(day: dt.date, size: str) -> dt.date:
    if size == "day":
        return day + dt.timedelta(days=1)
    if size == "week":
        return day - dt.timedelta(days=day.weekday()) + dt.timedelta(days=7)
    return _add_months(day.replace(day=1), 1)


def buckets(window: Window, size: str, zone: ZoneInfo) -> list[Bucket]:
    """The window cut into local days, weeks (Monday to Sunday) or months; the first and last are clipped."""
    out: list[Bucket] = []
    day = window.first
    while day <= window.last:
        nxt = min(_next_start(day, size), window.last + dt.timedelta(days=1))
        out.append(Bucket(day, nxt - dt.timedelta(days=1), _instant(day, zone), _instant(nxt, zone)))
        if len(out) > MAX_BUCKETS:
            raise InvalidInput([("range", f"gives more than {MAX_BUCKETS} {size}s; choose a shorter range "
                                          "or a coarser time dimension")])
        day = nxt
    return out


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimensionPlan:
    """How one dimension is computed in SQL.

    ``column``: a tickets column (``assignee``: the assignee's username); ``field``: a field's
    value in the JSON (``multiselect``: one group per selected option); ``time``: the bucket the
    time column falls in (:meth:`bucket_of` turns what the database returns into its index).
    ``roll_up`` maps org units to their ancestor at a level.
    """

    dimension: ReportDimension
    source: Literal["column", "field", "time"]
    name: str  # column name, field id, or bucket size
    field_type: str | None = None
    roll_up: Mapping[str, str] | None = None
    buckets: tuple[Bucket, ...] = ()

    def bucket_of(self, key: int | dt.date | dt.datetime) -> int:
        """A time key as a bucket index: an index already, or a local date (the bucket that holds it)."""
        if isinstance(key, int):
            return key
        day = key.date() if isinstance(key, dt.datetime) else key
        # a week or month truncated to before the range belongs to the first, clipped bucket
        return max(0, bisect.bisect_right([b.first for b in self.buckets], day) - 1)


@dataclass(frozen=True)
class ReportPlan:
    """Everything the storage layer needs to compute one report for one reader, engine-neutral."""

    report: CompiledReport
    scope: ScopeRules
    types: tuple[str, ...]
    where: Cond | None
    time_column: str  # created_at | resolved_at
    window: Window | None
    dimensions: tuple[DimensionPlan, ...]
    sums: frozenset[str]  # which grouped sums the measures need (see storage.reports.SUMS)
    percentiles: Mapping[str, tuple[int, ...]]  # seconds column -> percentiles wanted
    now: dt.datetime
    zone: str = "UTC"  # IANA name of the organisation's time zone


_SUMS_OF: dict[str, tuple[str, ...]] = {
    "created": ("n",),
    "resolved": ("resolved",),
    "backlog": ("backlog",),
    "resolution_rate": ("n", "resolved"),
    "overdue": ("resolution_late",),
    "overdue_rate": ("resolution_due", "resolution_late"),
    "sla_compliance": ("resolution_due", "resolution_late"),
    "response_overdue_rate": ("response_due", "response_late"),
    "response_sla_compliance": ("response_due", "response_late"),
    "mean_first_response": ("first_response_sum", "first_response_count"),
    "mean_resolution": ("resolution_sum", "resolution_count"),
    "reopens": ("reopens",),
}


def _dimension_plan(catalog: Catalog, dim: ReportDimension, window: Window | None, zone: ZoneInfo) -> DimensionPlan:
    if dim.kind == "time":
        assert window is not None, "checked: a time dimension has a bounded range"
        return DimensionPlan(dim, "time", dim.id, buckets=tuple(buckets(window, dim.id, zone)))
    roll_up = None
    if dim.level is not None:
        org = catalog.org
        roll_up = {u: up for u in org.units if (up := org.ancestor_at(u, dim.level)) is not None}
    if dim.kind == "column":
        return DimensionPlan(dim, "column", dim.id, roll_up=roll_up)
    return DimensionPlan(dim, "field", dim.id, dim.field_type, roll_up)


def plan_report(catalog: Catalog, report: CompiledReport, scope: ScopeRules, now: dt.datetime,
                zone: ZoneInfo | None = None, spec_range: str | TimeRange | None = None) -> ReportPlan:
    """The plan of ``report`` for a reader with ``scope`` at ``now``; ``spec_range`` overrides its range."""
    zone = zone or report_zone()
    chosen = report.spec.range if spec_range is None else spec_range
    window = resolve_window(chosen, now, zone)
    if window is None and any(d.kind == "time" for d in report.dimensions):
        raise InvalidInput([("range", "must be bounded for a report grouped by day, week or month")])
    sums: set[str] = set()
    percentiles: dict[str, set[int]] = {}
    for m in report.measures:
        sums.update(_SUMS_OF.get(m, ()))
        head, _, tail = m.partition("_")
        if head in PERCENTILES:
            percentiles.setdefault(_SECONDS_COLUMNS[tail], set()).add(PERCENTILES[head])
    return ReportPlan(
        report=report, scope=scope, types=report.types, where=report.where,
        time_column="resolved_at" if report.spec.time_field == "resolved" else "created_at", window=window,
        dimensions=tuple(_dimension_plan(catalog, d, window, zone) for d in report.dimensions),
        sums=frozenset(sums), percentiles={k: tuple(sorted(v)) for k, v in sorted(percentiles.items())}, now=now,
        zone=zone.key,
    )


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

Key = tuple[Any, ...]
Groups = Mapping[Key, Mapping[str, Any]]  # group key -> sums / percentile values by name


@dataclass(frozen=True)
class ReportRow:
    """One group: its key per dimension (a bucket's first day for time) and a value per measure."""

    keys: tuple[Any, ...]
    values: dict[str, float | int | None]


@dataclass(frozen=True)
class ReportResult:
    """A computed report: the plan it came from and its rows in display order."""

    plan: ReportPlan
    rows: list[ReportRow] = field(default_factory=list)

    @property
    def report(self) -> CompiledReport:
        return self.plan.report


def _ratio(part: int, whole: int) -> float | None:
    return None if not whole else round(100.0 * part / whole, 2)


def _measure(name: str, g: Mapping[str, Any]) -> float | int | None:
    def s(key: str) -> int:
        return int(g.get(key) or 0)

    if name == "created":
        return s("n")
    if name in ("resolved", "backlog", "reopens"):
        return s(name)
    if name == "overdue":
        return s("resolution_late")
    if name == "resolution_rate":
        return _ratio(s("resolved"), s("n"))
    if name in ("overdue_rate", "sla_compliance", "response_overdue_rate", "response_sla_compliance"):
        target = "response" if name.startswith("response") else "resolution"
        due, late = s(f"{target}_due"), s(f"{target}_late")
        return _ratio(late, due) if name.endswith("overdue_rate") else _ratio(due - late, due)
    head, _, tail = name.partition("_")
    if head == "mean":
        count = s(f"{tail}_count")
        return None if not count else round(s(f"{tail}_sum") / count, 1)
    value = g.get(f"p{PERCENTILES[head]}_{_SECONDS_COLUMNS[tail]}")
    return None if value is None else int(value)


def _order(catalog: Catalog, plan: ReportPlan, d: DimensionPlan) -> dict[Any, int]:
    """The natural order of a dimension's keys: declared order where there is one."""
    dim = d.dimension
    if d.source == "time":
        return {i: i for i in range(len(d.buckets))}
    if d.roll_up is not None or dim.id == "org_unit" or d.field_type == "org_unit":
        return {u: i for i, u in enumerate(catalog.org.units)}
    if dim.id == "type" and d.source == "column":
        return {t: i for i, t in enumerate(plan.types)}
    if dim.id == "priority" and d.source == "column":
        return {p: i for i, p in enumerate(PRIORITIES)}
    if dim.id == "state_category" and d.source == "column":
        return {c: i for i, c in enumerate(CATEGORIES)}
    if dim.id == "state" and d.source == "column":
        states = [s for t in plan.types for s in catalog.types[t].flow.states]
        return {s: i for i, s in enumerate(dict.fromkeys(states))}
    if (dim.id == "team" and d.source == "column") or d.field_type == "team":
        return {t: i for i, t in enumerate(catalog.teams)}
    if d.field_type == "boolean":
        return {"true": 0, "false": 1}
    if d.field_type in ("select", "multiselect"):
        for t in plan.types:
            f = catalog.types[t].fields.get(dim.id)
            if f is not None and (values := option_values(f)):
                return {v: i for i, v in enumerate(values)}
    return {}


def _sort_key(orders: Sequence[dict[Any, int]], keys: Key) -> tuple[Any, ...]:
    out: list[Any] = []
    for order, key in zip(orders, keys, strict=True):
        # declared keys first in their order, then the others by text, "none" last
        out.append((key is None, key not in order, order.get(key, 0), "" if key is None else str(key)))
    return tuple(out)


def _filled(plan: ReportPlan, groups: Groups) -> dict[Key, Mapping[str, Any]]:
    """Every time bucket gets a row, so a line or bar chart shows the quiet days as zero."""
    out = dict(groups)
    times = [i for i, d in enumerate(plan.dimensions) if d.source == "time"]
    if not times:
        return out
    t = times[0]
    others = {k[:t] + k[t + 1:] for k in groups} or ({()} if len(plan.dimensions) == 1 else set())
    for rest in others:
        for b in range(len(plan.dimensions[t].buckets)):
            key = (*rest[:t], b, *rest[t:])
            out.setdefault(key, {})
    return out


def assemble(catalog: Catalog, plan: ReportPlan, groups: Groups) -> ReportResult:
    """The report's rows from the grouped sums and percentiles the database computed."""
    orders = [_order(catalog, plan, d) for d in plan.dimensions]
    rows = []
    for key, g in sorted(_filled(plan, groups).items(), key=lambda kv: _sort_key(orders, kv[0])):
        keys = tuple(d.buckets[k].first if d.source == "time" else k for d, k in zip(plan.dimensions, key, strict=True))
        rows.append(ReportRow(keys, {m: _measure(m, g) for m in plan.report.measures}))
    return ReportResult(plan, rows)


def check_range_override(text: str | None, first: str | None, last: str | None) -> str | TimeRange | None:
    """A reader's choice of range from a query string: a relative name, or both ends as dates."""
    if first or last:
        problems = []
        days = {}
        for key, value in (("from", first), ("to", last)):
            try:
                days[key] = dt.date.fromisoformat(value or "")
            except ValueError:
                problems.append((key, "must be a date written YYYY-MM-DD"))
        if problems:
            raise InvalidInput(problems)
        if days["from"] > days["to"]:
            raise InvalidInput([("to", "must not be before from")])
        return TimeRange(from_=days["from"].isoformat(), to=days["to"].isoformat())
    if text is None or text == "":
        return None
    if text not in RANGES:
        raise InvalidInput([("range", f"must be one of: {', '.join(RANGES)}")])
    return text


assert set(_SUMS_OF) | {f"{p}_{c}" for p in PERCENTILES for c in _SECONDS_COLUMNS} == set(MEASURES)
