"""A report's figures, aggregated in SQL on either engine: one grouped statement per report.

The plan (:class:`~engine.runtime.reports.ReportPlan`) becomes one SQL statement here. No ticket
row leaves the database: the statement returns one row per group, with integer sums and the
percentile values, and reads the report's tickets once. The reader's scope is the same ``WHERE``
clause as every list (:func:`~engine.runtime.storage.queries.scope_sql`), the report's condition
goes through :func:`~engine.runtime.storage.conditions.condition_sql`.

Both engines run the same statement apart from how a value is read from the JSON column and
how a time is passed (SQLite compares the UTC text Piccolo stores; the text order is the time
order). Org roll-ups and time buckets are computed in Python from the definitions and the time
zone and pushed into SQL: a roll-up as ``CASE org_unit WHEN … THEN ancestor``; on SQLite, which
has no time-zone rules, a time bucket is a binary search over the buckets' start instants in nested
``CASE`` expressions, while PostgreSQL takes the local date with ``AT TIME ZONE`` — the same local
midnights from the same zone rules, so a day is the same set of tickets on both, DST included.
Percentiles are nearest-rank on both (``row_number`` against ``(P * n + 99) / 100`` in integer
arithmetic) rather than PostgreSQL's ``percentile_cont``/``percentile_disc``, which interpolate or
round ``P * n`` in floating point, so both engines give the same value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from engine.runtime.permissions import ScopeRules
from engine.runtime.reports import DimensionPlan, Groups, ReportPlan, ReportResult, assemble, plan_report
from engine.schema import Catalog
from engine.schema.kinds.report import CompiledReport, TimeRange

from .conditions import condition_sql, field_value_sql
from .database import is_postgres
from .queries import scope_sql
from .sql import fetch_rows, sqlite_time

__all__ = ["SUMS", "people_of", "report_groups", "report_sql", "run_report", "user_names"]

_RESOLVED = "('resolved', 'closed')"
_OPEN = "('open', 'active', 'waiting')"

# The grouped sums a plan may ask for; {now} is the moment the report is computed.
SUMS: dict[str, str] = {
    "n": "count(*)",
    "resolved": f"sum(CASE WHEN tickets.state_category IN {_RESOLVED} THEN 1 ELSE 0 END)",
    "backlog": f"sum(CASE WHEN tickets.state_category IN {_OPEN} THEN 1 ELSE 0 END)",
    "resolution_due": "sum(CASE WHEN tickets.resolution_due_at IS NOT NULL THEN 1 ELSE 0 END)",
    "resolution_late": "sum(CASE WHEN tickets.resolution_due_at IS NOT NULL AND "
                       "coalesce(tickets.resolved_at, {now}) > tickets.resolution_due_at THEN 1 ELSE 0 END)",
    "response_due": "sum(CASE WHEN tickets.response_due_at IS NOT NULL THEN 1 ELSE 0 END)",
    "response_late": "sum(CASE WHEN tickets.response_due_at IS NOT NULL AND "
                     "coalesce(tickets.first_response_at, {now}) > tickets.response_due_at THEN 1 ELSE 0 END)",
    "first_response_sum": "sum(tickets.first_response_seconds)",
    "first_response_count": "count(tickets.first_response_seconds)",
    "resolution_sum": "sum(tickets.resolution_seconds)",
    "resolution_count": "count(tickets.resolution_seconds)",
    "reopens": "sum(coalesce(tickets.reopen_count, 0))",
}

SQL = tuple[str, list[Any]]


def _time(value: dt.datetime, postgres: bool) -> Any:
    return value if postgres else sqlite_time(value)


def _in(column: str, values: Sequence[str]) -> SQL:
    return f"{column} IN ({', '.join(['{}'] * len(values))})", list(values)


def _bucket_sql(column: str, starts: Sequence[dt.datetime], low: int, high: int, postgres: bool) -> SQL:
    """The index of the bucket in ``[low, high)`` the time falls in: a binary search in nested CASE."""
    if high - low == 1:
        return str(low), []
    mid = (low + high) // 2
    left, left_args = _bucket_sql(column, starts, low, mid, postgres)
    right, right_args = _bucket_sql(column, starts, mid, high, postgres)
    return f"CASE WHEN {column} < {{}} THEN {left} ELSE {right} END", [_time(starts[mid], postgres),
                                                                      *left_args, *right_args]


def _roll_up(value: str, mapping: dict[str, str] | Any) -> SQL:
    pairs = sorted(mapping.items())
    if not pairs:
        return "NULL", []
    return (f"CASE {value} " + " ".join("WHEN {} THEN {}" for _ in pairs) + " END",
            [x for pair in pairs for x in pair])


def _dimension_sql(d: DimensionPlan, plan: ReportPlan, postgres: bool) -> tuple[SQL, str]:
    """The key expression of one dimension, and the join it needs (or '')."""
    join = ""
    if d.source == "time":
        column = f"tickets.{plan.time_column}"
        if postgres:
            # The local date (or week, month) from PostgreSQL's own zone rules: a short expression,
            # where hundreds of nested CASE branches cost more to JIT-compile than to run.
            local = f"{column} AT TIME ZONE {{}}"
            expr = f"({local})::date" if d.name == "day" else f"date_trunc('{d.name}', {local})::date"
            return (expr, [plan.zone]), join
        starts = [b.start for b in d.buckets]
        return _bucket_sql(column, starts, 0, len(starts), postgres), join
    if d.source == "column":
        value = "ua.username" if d.name == "assignee" else f"tickets.{d.name}"
        if d.name == "assignee":
            join = " LEFT JOIN users ua ON ua.id = tickets.assignee_id"
    elif d.field_type == "multiselect":
        # One row per selected option (text values only), or one row with no option.
        if postgres:
            array = (f"(CASE jsonb_typeof(tickets.fields -> '{d.name}') WHEN 'array' "
                     f"THEN tickets.fields -> '{d.name}' ELSE '[]'::jsonb END)")
            join = f" LEFT JOIN LATERAL jsonb_array_elements({array}) AS ms(value) ON jsonb_typeof(ms.value) = 'string'"
            value = "(ms.value #>> ARRAY[]::text[])"  # the string itself ('{}' would read as a placeholder)
        else:
            path = f"'$.{d.name}'"
            array = (f"(CASE json_type(tickets.fields, {path}) WHEN 'array' "
                     f"THEN json_extract(tickets.fields, {path}) ELSE '[]' END)")
            join = f" LEFT JOIN json_each({array}) AS ms ON ms.type = 'text'"
            value = "ms.value"
    else:
        value = field_value_sql(d.name, d.field_type or "text", postgres)
    if d.roll_up is not None:
        return _roll_up(value, d.roll_up), join
    return (value, []), join


def _from_where(plan: ReportPlan, postgres: bool) -> tuple[list[SQL], str, SQL]:
    """The key expressions, the FROM clause with its joins, and the WHERE clause."""
    keys: list[SQL] = []
    joins: list[str] = []
    for d in plan.dimensions:
        key, join = _dimension_sql(d, plan, postgres)
        keys.append(key)
        if join and join not in joins:
            joins.append(join)
    clauses: list[str] = []
    args: list[Any] = []
    types_sql, types_args = _in("tickets.type", plan.types)
    clauses.append(types_sql)
    args += types_args
    if plan.window is not None:
        clauses.append(f"tickets.{plan.time_column} >= {{}} AND tickets.{plan.time_column} < {{}}")
        args += [_time(plan.window.start, postgres), _time(plan.window.end, postgres)]
    elif plan.time_column != "created_at":
        clauses.append(f"tickets.{plan.time_column} IS NOT NULL")
    scope = scope_sql(plan.scope)
    if scope is not None:
        clauses.append(scope[0])
        args += list(scope[1])
    if plan.where is not None:
        where_sql, where_args = condition_sql(plan.where, plan.report.facts, postgres)
        clauses.append(where_sql)
        args += where_args
    return keys, "FROM tickets" + "".join(joins), (" WHERE " + " AND ".join(clauses), args)


# The columns the sums and percentiles read, carried through the ranking step.
_COLUMNS = ("state_category", "resolved_at", "resolution_due_at", "response_due_at", "first_response_at",
            "first_response_seconds", "resolution_seconds", "reopen_count")


def _sums(plan: ReportPlan, postgres: bool) -> tuple[list[str], list[Any]]:
    select: list[str] = []
    args: list[Any] = []
    for name in sorted(plan.sums) or ["n"]:
        expr = SUMS[name]
        while "{now}" in expr:  # one placeholder per use: PostgreSQL numbers them
            expr = expr.replace("{now}", "{}", 1)
            args.append(_time(plan.now, postgres))
        select.append(f"{expr} AS {name}")
    return select, args


def report_sql(plan: ReportPlan, postgres: bool) -> SQL:
    """One statement: a row per group with its integer sums and, if asked, nearest-rank percentiles.

    Without percentiles: ``SELECT k0, k1, <sums> FROM tickets … GROUP BY 1, 2``. With them the
    tickets are read once into a ranking step — per seconds column ``row_number()`` in ascending
    order (NULLs last) and ``count(column)`` over the group — and the grouping picks the row at rank
    ``(P * n + 99) / 100`` (integer division: ⌈P·n/100⌉) next to the sums.
    """
    keys, from_sql, (where_sql, where_args) = _from_where(plan, postgres)
    key_args = [a for _sql, k_args in keys for a in k_args]
    sums, sum_args = _sums(plan, postgres)
    group_by = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    if not plan.percentiles:
        select = [f"{sql} AS k{i}" for i, (sql, _a) in enumerate(keys)] + sums
        # textual order of the placeholders: keys, sums, then the WHERE clause
        return f"SELECT {', '.join(select)} {from_sql}{where_sql}{group_by}", key_args + sum_args + where_args
    names = [f"k{i}" for i in range(len(keys))]
    partition = f"PARTITION BY {', '.join(names)} " if names else ""
    base = ", ".join([*(f"{sql} AS k{i}" for i, (sql, _a) in enumerate(keys)), *(f"tickets.{c}" for c in _COLUMNS)])
    windows, picks = [], []
    for column, percentiles in plan.percentiles.items():
        windows += [f"row_number() OVER ({partition}ORDER BY tickets.{column} NULLS LAST) AS rn_{column}",
                    f"count(tickets.{column}) OVER ({partition.strip()}) AS n_{column}"]
        picks += [f"max(CASE WHEN rn_{column} = ({p} * n_{column} + 99) / 100 THEN tickets.{column} END) "
                  f"AS p{p}_{column}" for p in percentiles]
    ranked = (f"SELECT {', '.join([*names, *(f'tickets.{c}' for c in _COLUMNS), *windows])} "
              f"FROM (SELECT {base} {from_sql}{where_sql}) AS tickets")
    select = [*names, *sums, *picks]
    return f"SELECT {', '.join(select)} FROM ({ranked}) AS tickets{group_by}", sum_args + key_args + where_args


def _key(value: Any) -> Any:
    """A group key as Python compares it: text, an integer bucket, or None."""
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


async def report_groups(plan: ReportPlan) -> Groups:
    """The grouped sums and percentiles of a plan, by group key."""
    dims = len(plan.dimensions)
    names = [*(sorted(plan.sums) or ["n"]),
             *(f"p{p}_{column}" for column, percentiles in plan.percentiles.items() for p in percentiles)]
    sql, args = report_sql(plan, is_postgres())
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in await fetch_rows(sql, *args, plan_per_call=True):  # a day's range or a year's: plans differ
        # a week or month that began before the range is one group in SQL too: keys stay unique
        key = tuple(d.bucket_of(v) if d.source == "time" else _key(v) for d, v in zip(plan.dimensions, row[:dims],
                                                                                     strict=True))
        groups[key] = {name: (None if v is None else int(v)) for name, v in zip(names, row[dims:], strict=True)}
    return groups


async def user_names(usernames: Sequence[str]) -> dict[str, str]:
    """Display names of the people a report groups by (a few rows: the groups, not the tickets)."""
    names = sorted({u for u in usernames if u})
    if not names:
        return {}
    sql, args = _in("users.username", names)
    rows = await fetch_rows(f"SELECT users.username, users.display_name FROM users WHERE {sql}", *args)
    return {str(r[0]): str(r[1] or r[0]) for r in rows}



async def run_report(catalog: Catalog, report: CompiledReport, scope: ScopeRules, now: dt.datetime,
                     zone: ZoneInfo | None = None, spec_range: str | TimeRange | None = None) -> ReportResult:
    """Plan, aggregate in the database, and assemble the figures of one report for one reader."""
    plan = plan_report(catalog, report, scope, now, zone, spec_range)
    return assemble(catalog, plan, await report_groups(plan))


async def people_of(result: ReportResult) -> dict[str, str]:
    """Display names of the people a report's rows are grouped by (assignee or a user field)."""
    people = [i for i, d in enumerate(result.plan.dimensions)
              if (d.source == "column" and d.name == "assignee") or d.field_type == "user"]
    if not people:
        return {}
    return await user_names([str(row.keys[i]) for row in result.rows for i in people if row.keys[i] is not None])
