"""A report's figures, aggregated in SQL on either engine: one grouped query, plus one per percentile column.

The plan (:class:`~engine.runtime.reports.ReportPlan`) becomes SQL here. No ticket row leaves the
database: the aggregate query returns one row of integer sums per group, and each percentile
query one row of values per group. The reader's scope is the same ``WHERE`` clause as every list
(:func:`~engine.runtime.storage.queries.scope_sql`), the report's condition goes through
:func:`~engine.runtime.storage.conditions.condition_sql`.

Both engines run the same statements apart from how a value is read from the JSON column and
how a time is passed (SQLite compares the UTC text Piccolo stores; the text order is the time
order). Org roll-ups and time buckets are computed in Python from the definitions and the time
zone and pushed into SQL: a roll-up as ``CASE org_unit WHEN … THEN ancestor``, a time bucket as
a binary search over the buckets' start instants in nested ``CASE`` expressions — so a local
day is the same set of tickets on both engines, DST included, without time-zone tables in SQLite.
Percentiles are nearest-rank on both (``row_number`` against ``(P * n + 99) / 100`` in integer
arithmetic), never PostgreSQL's ``percentile_cont``, so both give the same value.
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

__all__ = ["SUMS", "aggregate_sql", "people_of", "percentile_sql", "report_groups", "run_report", "user_names"]

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


def _dimension_sql(d: DimensionPlan, time_column: str, postgres: bool) -> tuple[SQL, str]:
    """The key expression of one dimension, and the join it needs (or '')."""
    join = ""
    if d.source == "time":
        starts = [b.start for b in d.buckets]
        return _bucket_sql(f"tickets.{time_column}", starts, 0, len(starts), postgres), join
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
        key, join = _dimension_sql(d, plan.time_column, postgres)
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


def aggregate_sql(plan: ReportPlan, postgres: bool) -> SQL:
    """``SELECT k0, k1, <sums> … GROUP BY k0, k1``: one row of integer sums per group."""
    keys, from_sql, (where_sql, where_args) = _from_where(plan, postgres)
    select: list[str] = []
    args: list[Any] = []
    for i, (sql, key_args) in enumerate(keys):
        select.append(f"{sql} AS k{i}")
        args += key_args
    sums = sorted(plan.sums) or ["n"]
    for name in sums:
        expr = SUMS[name]
        while "{now}" in expr:  # one placeholder per use: PostgreSQL numbers them
            expr = expr.replace("{now}", "{}", 1)
            args.append(_time(plan.now, postgres))
        select.append(f"{expr} AS {name}")
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    return f"SELECT {', '.join(select)} {from_sql}{where_sql}{group}", args + where_args


def percentile_sql(plan: ReportPlan, column: str, percentiles: Sequence[int], postgres: bool) -> SQL:
    """Nearest-rank percentiles of a seconds column per group, the same rank on both engines."""
    keys, from_sql, (where_sql, where_args) = _from_where(plan, postgres)
    names = [f"k{i}" for i in range(len(keys))]
    inner = [f"{sql} AS k{i}" for i, (sql, _a) in enumerate(keys)]
    args = [a for _sql, key_args in keys for a in key_args]
    partition = f"PARTITION BY {', '.join(names)} " if names else ""
    base = (f"SELECT {', '.join([*inner, f'tickets.{column} AS v'])} {from_sql}{where_sql} "
            f"AND tickets.{column} IS NOT NULL")
    ranked = (f"SELECT {', '.join([*names, 'v'])}, row_number() OVER ({partition}ORDER BY v) AS rn, "
              f"count(*) OVER ({partition.strip()}) AS n FROM ({base}) AS base")
    picks = [f"max(CASE WHEN rn = ({p} * n + 99) / 100 THEN v END) AS p{p}" for p in percentiles]
    group = f" GROUP BY {', '.join(names)}" if names else ""
    return f"SELECT {', '.join([*names, *picks])} FROM ({ranked}) AS ranked{group}", args + where_args


def _key(value: Any) -> Any:
    """A group key as Python compares it: text, an integer bucket, or None."""
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


async def report_groups(plan: ReportPlan) -> Groups:
    """The grouped sums and percentiles of a plan, by group key."""
    postgres = is_postgres()
    dims = len(plan.dimensions)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    sql, args = aggregate_sql(plan, postgres)
    sums = sorted(plan.sums) or ["n"]
    for row in await fetch_rows(sql, *args):
        key = tuple(_key(v) for v in row[:dims])
        groups[key] = {name: (None if v is None else int(v)) for name, v in zip(sums, row[dims:], strict=True)}
    for column, percentiles in plan.percentiles.items():
        sql, args = percentile_sql(plan, column, percentiles, postgres)
        for row in await fetch_rows(sql, *args):
            key = tuple(_key(v) for v in row[:dims])
            values = groups.setdefault(key, {})
            for p, v in zip(percentiles, row[dims:], strict=True):
                values[f"p{p}_{column}"] = None if v is None else int(v)
    if not dims and groups.get(()) == {}:
        groups.pop(())
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
