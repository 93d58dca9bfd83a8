"""A computed report as people read it: labels in their language, formatted figures, JSON and CSV.

The runtime hands over keys (``store_sh01``, ``2026-11-23``) and numbers (counts, percentages,
seconds). Here they become what the table, the chart, the CSV export and the JSON export show:
definition labels in the reader's language, translated words for categories and priorities,
times in hours. One :class:`ReportView` feeds all four, so they never disagree.

Units: JSON carries the exact figures (rates in percent, times in seconds) for programs; the
page and the CSV show the table as people read it (rates in percent, times in hours).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from engine.runtime.reports import DimensionPlan, ReportResult
from engine.schema import Catalog
from engine.schema.kinds.report import MEASURES
from engine.schema.kinds.ticket_type import Option
from engine.schema.model import label_text

from .charts import ChartData, chart_svg, series_of
from .i18n import N_, translations

__all__ = [
    "DIMENSION_LABELS",
    "MEASURE_LABELS",
    "RANGE_LABELS",
    "Column",
    "ReportView",
    "ViewRow",
    "hours",
    "report_csv",
    "report_json",
    "report_view",
    "view_chart",
]

MEASURE_LABELS: dict[str, str] = {
    "created": N_("Tickets created"),
    "resolved": N_("Tickets resolved"),
    "backlog": N_("Open backlog"),
    "resolution_rate": N_("Resolution rate"),
    "overdue": N_("Overdue tickets"),
    "overdue_rate": N_("Overdue rate"),
    "sla_compliance": N_("SLA compliance"),
    "response_overdue_rate": N_("First response overdue rate"),
    "response_sla_compliance": N_("First response SLA compliance"),
    "mean_first_response": N_("Mean time to first response"),
    "median_first_response": N_("Median time to first response"),
    "p90_first_response": N_("90th percentile time to first response"),
    "mean_resolution": N_("Mean time to resolution"),
    "median_resolution": N_("Median time to resolution"),
    "p90_resolution": N_("90th percentile time to resolution"),
    "reopens": N_("Reopens"),
}
DIMENSION_LABELS: dict[str, str] = {
    "type": N_("Ticket type"),
    "state": N_("State"),
    "state_category": N_("Status"),
    "team": N_("Team"),
    "assignee": N_("Assignee"),
    "priority": N_("Priority"),
    "org_unit": N_("Org unit"),
    "day": N_("Day"),
    "week": N_("Week"),
    "month": N_("Month"),
}
RANGE_LABELS: dict[str, str] = {
    "today": N_("Today"),
    "yesterday": N_("Yesterday"),
    "last_7_days": N_("Last 7 days"),
    "last_30_days": N_("Last 30 days"),
    "last_90_days": N_("Last 90 days"),
    "this_week": N_("This week"),
    "last_week": N_("Last week"),
    "this_month": N_("This month"),
    "last_month": N_("Last month"),
    "this_quarter": N_("This quarter"),
    "last_quarter": N_("Last quarter"),
    "this_year": N_("This year"),
    "all": N_("All time"),
    "custom": N_("Custom range"),
}
_UNIT_SUFFIX = {"percent": " (%)", "seconds": N_(" (h)")}


@dataclass(frozen=True)
class Column:
    """A column of the table: a dimension or a measure."""

    id: str
    label: str
    kind: str  # dimension | measure
    unit: str | None = None  # count | percent | seconds, for measures


@dataclass(frozen=True)
class ViewRow:
    """A row of the table: per dimension its key and label, per measure its value and its text."""

    keys: tuple[str | None, ...]
    labels: tuple[str, ...]
    values: tuple[float | int | None, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class ReportView:
    """Everything shown of a computed report, in one language."""

    id: str
    title: str
    description: str
    lang: str
    range_name: str
    range_label: str
    range_first: dt.date | None
    range_last: dt.date | None
    time_field: str
    timezone: str
    dimensions: list[Column]
    measures: list[Column]
    rows: list[ViewRow]
    chart_type: str
    chart_measure: str
    target: float | None
    target_label: str
    generated_at: dt.datetime
    gettext: Callable[[str], str] = field(repr=False, compare=False, default=str)

    def measure(self, measure_id: str) -> Column:
        return next(c for c in self.measures if c.id == measure_id)


def hours(seconds: float | None) -> float | None:
    """Seconds as hours with two decimals, as the table, the chart and the CSV show times."""
    return None if seconds is None else round(seconds / 3600, 2)


def _text(value: float | int | None, unit: str | None, _: Callable[[str], str]) -> str:
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "seconds":
        if value < 3600:
            return _("%(n)s min") % {"n": round(value / 60)}
        return _("%(n)s h") % {"n": f"{value / 3600:.1f}"}
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _json_key(d: DimensionPlan, key: Any) -> str | None:
    if key is None:
        return None
    if isinstance(key, dt.date):
        return key.strftime("%Y-%m") if d.name == "month" and d.source == "time" else key.isoformat()
    return str(key)


class _Labeller:
    """Turns one dimension's keys into labels in one language."""

    def __init__(self, catalog: Catalog, result: ReportResult, lang: str, people: Mapping[str, str]) -> None:
        self.catalog, self.result, self.lang, self.people = catalog, result, lang, people
        self._ = translations(lang).gettext

    def options(self, field_id: str) -> dict[str, str]:
        for t in self.result.plan.types:
            f = self.catalog.types[t].fields.get(field_id)
            if f is not None and f.options:
                return {o.value: label_text(o.label, self.lang, o.value) for o in f.options if isinstance(o, Option)}
        return {}

    def label(self, d: DimensionPlan, index: int, key: Any) -> str:
        _, catalog = self._, self.catalog
        if key is None:
            return _("(none)")
        if d.source == "time":
            bucket = d.buckets[index]
            if d.name == "day":
                return bucket.first.isoformat()
            if d.name == "month":
                return bucket.first.strftime("%Y-%m")
            return f"{bucket.first.isoformat()} – {bucket.last.strftime('%m-%d')}"
        kind = d.name if d.source == "column" else d.field_type
        if d.roll_up is not None or kind == "org_unit":
            return catalog.org.label(str(key), self.lang)
        if d.source == "column" and d.name == "type":
            return catalog.types[key].label(self.lang) if key in catalog.types else str(key)
        if d.source == "column" and d.name == "state":
            for t in self.result.plan.types:
                st = catalog.types[t].flow.states.get(str(key))
                if st is not None:
                    return label_text(st.label, self.lang, str(key))
            return str(key)
        if kind in ("state_category", "priority"):
            return _(str(key))
        if kind == "team":
            team = catalog.teams.get(str(key))
            return label_text(team.label, self.lang, str(key)) if team else str(key)
        if kind in ("assignee", "user"):
            return self.people.get(str(key), str(key))
        if kind == "boolean":
            return _("Yes") if key == "true" else _("No")
        if kind in ("select", "multiselect"):
            return self.options(d.name).get(str(key), str(key))
        return str(key)


def report_view(catalog: Catalog, result: ReportResult, lang: str, people: Mapping[str, str],
                generated_at: dt.datetime, timezone: str) -> ReportView:
    """The labelled table of a computed report; ``people`` maps usernames to display names."""
    _ = translations(lang).gettext
    report, plan = result.report, result.plan
    labeller = _Labeller(catalog, result, lang, people)
    dims = [Column(d.dimension.id, label_text(d.dimension.label, lang) or _(DIMENSION_LABELS.get(
        d.dimension.id, "")) or _field_label(catalog, plan.types, d.dimension.id, lang), "dimension")
        for d in plan.dimensions]
    measures = [Column(m, _(MEASURE_LABELS[m]), "measure", MEASURES[m].unit) for m in report.measures]
    rows = []
    for row in result.rows:
        index_keys = [k for k in row.keys]
        keys = tuple(_json_key(d, k) for d, k in zip(plan.dimensions, index_keys, strict=True))
        labels = tuple(labeller.label(d, _bucket_index(d, k), k) for d, k in zip(plan.dimensions, index_keys,
                                                                                  strict=True))
        values = tuple(row.values[m.id] for m in measures)
        texts = tuple(_text(v, m.unit, _) for v, m in zip(values, measures, strict=True))
        rows.append(ViewRow(keys, labels, values, texts))
    window = plan.window
    range_name = window.name if window else "all"
    range_label = _(RANGE_LABELS[range_name])
    if window is not None:
        span = window.first.isoformat() if window.first == window.last else f"{window.first} – {window.last}"
        range_label = f"{range_label} ({span})" if range_name != "custom" else span
    spec = report.spec
    return ReportView(
        id=report.name, title=label_text(spec.label, lang, report.name), description=label_text(spec.description, lang),
        lang=lang, range_name=range_name, range_label=range_label, range_first=window.first if window else None,
        range_last=window.last if window else None, time_field=spec.time_field, timezone=timezone,
        dimensions=dims, measures=measures, rows=rows, chart_type=report.chart_type,
        chart_measure=report.chart_measure, target=report.target,
        target_label=label_text(spec.chart.target_label, lang), generated_at=generated_at, gettext=_,
    )


def _bucket_index(d: DimensionPlan, key: Any) -> int:
    if d.source != "time":
        return -1
    return next(i for i, b in enumerate(d.buckets) if b.first == key)


def _field_label(catalog: Catalog, types: tuple[str, ...], field_id: str, lang: str) -> str:
    for t in types:
        f = catalog.types[t].fields.get(field_id)
        if f is not None:
            return label_text(f.label, lang, field_id)
    return field_id


def report_json(view: ReportView) -> dict[str, Any]:
    """The report for programs: keys and exact values (rates in percent, times in seconds), with labels."""
    return {
        "id": view.id,
        "label": view.title,
        "description": view.description,
        "range": {"name": view.range_name, "label": view.range_label,
                  "from": view.range_first.isoformat() if view.range_first else None,
                  "to": view.range_last.isoformat() if view.range_last else None,
                  "time_field": view.time_field, "timezone": view.timezone},
        "generated_at": view.generated_at.isoformat(),
        "dimensions": [{"id": c.id, "label": c.label} for c in view.dimensions],
        "measures": [{"id": c.id, "label": c.label, "unit": c.unit} for c in view.measures],
        "rows": [
            {"keys": {c.id: k for c, k in zip(view.dimensions, r.keys, strict=True)},
             "labels": {c.id: label for c, label in zip(view.dimensions, r.labels, strict=True)},
             "values": {c.id: v for c, v in zip(view.measures, r.values, strict=True)}}
            for r in view.rows
        ],
        "chart": {"type": view.chart_type, "measure": view.chart_measure, "target": view.target},
    }


def _csv_value(value: float | int | None, unit: str | None) -> str:
    if value is None:
        return ""
    if unit == "seconds":
        return f"{hours(value):.2f}"
    if unit == "percent":
        return f"{value:.2f}"
    return str(value)


def report_csv(view: ReportView) -> bytes:
    """The table as CSV for spreadsheets: UTF-8 with a byte-order mark (Excel then reads Chinese text right)."""
    _ = view.gettext
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.label for c in view.dimensions]
                    + [c.label + (_(_UNIT_SUFFIX[c.unit]) if c.unit in _UNIT_SUFFIX else "") for c in view.measures])
    for r in view.rows:
        writer.writerow([*r.labels, *(_csv_value(v, c.unit) for v, c in zip(r.values, view.measures, strict=True))])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


CHART_KINDS = {"bar": N_("Bar chart"), "stacked_bar": N_("Stacked bar chart"), "line": N_("Line chart")}


def _axis_labels(view: ReportView, categories: tuple[str, ...]) -> tuple[str, ...]:
    """Short names along the axis for days and weeks (10-29 rather than 2026-10-29 – 11-04)."""
    if not view.dimensions or view.dimensions[0].id not in ("day", "week"):
        return categories
    first = {r.labels[0]: r.keys[0] for r in view.rows}
    return tuple((first.get(c) or c)[5:10] for c in categories)


def view_chart(view: ReportView, chart_id: str = "chart", *, compact: bool = False) -> Markup | None:
    """The report's chart as SVG (times in hours), or None for a table-only report or an empty one.

    ``compact``: the smaller drawing of a dashboard card, whose text stays readable at its size.
    """
    if view.chart_type not in CHART_KINDS or not view.rows:
        return None
    _ = view.gettext
    index = next(i for i, c in enumerate(view.measures) if c.id == view.chart_measure)
    measure = view.measures[index]
    seconds = measure.unit == "seconds"
    rows = [(r.labels, hours(v) if seconds else v) for r in view.rows for v in (r.values[index],)]
    categories, series = series_of(rows, len(view.dimensions), measure.label)
    unit = "%" if measure.unit == "percent" else _("h") if seconds else ""
    target = hours(view.target) if seconds else view.target
    values = [float(v) for _l, v in rows if v is not None]
    summary = _("%(chart)s of %(measure)s by %(by)s, %(range)s: %(n)s values from %(low)s to %(high)s.") % {
        "chart": _(CHART_KINDS[view.chart_type]), "measure": measure.label,
        "by": ", ".join(c.label for c in view.dimensions), "range": view.range_label, "n": len(values),
        "low": f"{min(values, default=0):g}", "high": f"{max(values, default=0):g}",
    }
    if target is not None:
        summary += " " + _("Target: %(target)s.") % {"target": f"{target:g}{' ' + unit if unit else ''}"}
    return chart_svg(ChartData(
        kind=view.chart_type, title=f"{view.title} — {measure.label}", description=summary,
        categories=_axis_labels(view, categories), series=series, unit=unit, target=target,
        target_label=view.target_label, id=chart_id, width=520.0 if compact else 760.0,
        height=260.0 if compact else 320.0,
    ))
