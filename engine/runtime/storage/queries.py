"""Ticket lists and counts: the actor's scope, queue filters and keyset pagination, all in SQL.

The scope rules of :mod:`engine.runtime.permissions` become one ``WHERE`` clause
(:func:`scope_where`), so a list never loads a ticket the actor may not see and never filters
rows in Python. Filters (:class:`TicketFilter`) add to the same clause.

Pagination is by keyset, not offset: the cursor names the last row's sort value and id, and the
next page starts strictly after it, ``ORDER BY <sort column>, id`` in the same direction. Rows
that share a sort value are ordered by id, so every row appears exactly once while the list is
walked, however many tickets are created meanwhile. The sort columns are the ones with an index
on ``(column, id)`` or the primary key (``created_at``, ``id``), plus ``updated_at``.

Index use: scope and filter predicates on people are ``IN (SELECT id FROM users WHERE username
IN …)`` subqueries, so they reach ``tickets (requester_id, id)``, ``tickets (assignee_id, …)`` and
``approvals (approver_id, …)`` without a join on the outer query; team, org unit and type go
straight to their indexed columns, and the cursor is a row-value comparison that an index on
``(created_at, id)`` can range-scan.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any, Literal, get_args

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable
from piccolo.query.methods.select import Select

from engine.runtime.errors import InvalidInput
from engine.runtime.model import TicketSnapshot
from engine.runtime.permissions import ScopeRule, ScopeRules

from .database import is_postgres
from .search import MIN_INDEXED_CHARS, search_clause, search_sql
from .sql import fetch_rows, sqlite_time
from .tables import Approval, Ticket, User

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SORTS",
    "SortKey",
    "TicketFilter",
    "count_tickets",
    "decode_cursor",
    "encode_cursor",
    "filter_sql",
    "filter_where",
    "list_tickets",
    "scope_sql",
    "scope_where",
]

SortKey = Literal["-created_at", "created_at", "-updated_at", "updated_at", "-id", "id"]
SORTS: tuple[SortKey, ...] = get_args(SortKey)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200

_BAD_CURSOR = ("cursor", "is not a valid cursor")


def _matches_nothing() -> WhereRaw:
    return WhereRaw("1 = 0")


def _user_ids(usernames: Sequence[str] | frozenset[str]) -> Select[User]:
    """``SELECT id FROM users WHERE username IN (…)`` — the unique username index answers it."""
    return User.select(User.id).where(User.username.is_in(sorted(usernames)))


def _rule_where(rule: ScopeRule) -> Combinable | None:
    """The SQL twin of :meth:`ScopeRule.matches`; None when the rule cannot match any ticket."""
    kind_clause: Combinable | None
    if rule.kind == "all":
        kind_clause = None
    elif not rule.values:
        return None
    elif rule.kind == "own":
        kind_clause = Ticket.requester_id.is_in(_user_ids(rule.values))
    elif rule.kind == "assigned":
        kind_clause = Ticket.assignee_id.is_in(_user_ids(rule.values))
    elif rule.kind == "approver":
        kind_clause = Ticket.id.is_in(
            Approval.select(Approval.ticket_id).where(Approval.approver_id.is_in(_user_ids(rule.values))))
    elif rule.kind == "team":
        kind_clause = Ticket.team.is_in(sorted(rule.values))
    else:
        kind_clause = Ticket.org_unit.is_in(sorted(rule.values))
    if rule.types is None:
        return kind_clause
    if not rule.types:
        return None
    type_clause = Ticket.type.is_in(sorted(rule.types))
    return type_clause if kind_clause is None else type_clause & kind_clause


def scope_where(rules: ScopeRules) -> Combinable | None:
    """A ``where`` clause on ``tickets`` keeping the tickets any of ``rules`` lets through.

    None when every ticket is visible (no clause needed); a clause that matches no row when the
    rules are empty or none of them can match.
    """
    if rules.everything:
        return None
    clauses = [c for c in (_rule_where(r) for r in rules.rules) if c is not None]
    # An unrestricted rule that produced no clause ("all" with types None) is caught by
    # ``everything`` above, so an empty list here really means "nothing".
    if not clauses:
        return _matches_nothing()
    return reduce(lambda a, b: a | b, clauses)


def _names(value: Sequence[str] | str) -> list[str]:
    """A filter's values; a single string counts as one value, not as its characters."""
    return [value] if isinstance(value, str) else sorted(set(value))


@dataclass(frozen=True)
class TicketFilter:
    """What a list asks for on top of the scope; empty values filter nothing.

    List fields keep tickets whose column is any of the values (a plain string is one value).
    ``assignee`` and ``requester`` are usernames (the caller resolves ``me``); ``unassigned``
    keeps tickets nobody is assigned to. ``org_unit`` is matched as given: the caller expands a
    subtree. ``created_from <= created_at < created_to``. ``q`` is a substring search over
    number, title and field text (see :func:`~engine.runtime.storage.search.search_clause`).
    ``sort`` is one of :data:`SORTS`; a leading ``-`` means descending (newest first).
    """

    type: Sequence[str] = ()
    state: Sequence[str] = ()
    state_category: Sequence[str] = ()
    assignee: str | None = None
    unassigned: bool = False
    team: Sequence[str] = ()
    org_unit: Sequence[str] = ()
    requester: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None
    sort: SortKey = "-created_at"
    # "overdue": a running SLA target is past its due time; "due_soon": one falls due within
    # DUE_SOON of ``now`` (default: the current time) and none is overdue.
    sla: str | None = None
    now: datetime | None = None


def filter_where(filt: TicketFilter) -> list[Combinable]:
    """The filter's clauses on ``tickets``, to be combined with AND (empty: no filter)."""
    clauses: list[Combinable] = []
    for column, value in ((Ticket.type, filt.type), (Ticket.state, filt.state),
                          (Ticket.state_category, filt.state_category), (Ticket.team, filt.team),
                          (Ticket.org_unit, filt.org_unit)):
        values = _names(value)
        if values:
            clauses.append(column.is_in(values))
    if filt.assignee is not None:
        clauses.append(Ticket.assignee_id.is_in(_user_ids([filt.assignee])))
    if filt.unassigned:
        clauses.append(Ticket.assignee_id.is_null())
    if filt.requester is not None:
        clauses.append(Ticket.requester_id.is_in(_user_ids([filt.requester])))
    if filt.created_from is not None:
        clauses.append(Ticket.created_at >= filt.created_from)
    if filt.created_to is not None:
        clauses.append(Ticket.created_at < filt.created_to)
    if filt.q is not None and filt.q.strip():
        clauses.append(search_clause(filt.q))
    if filt.sla:
        clauses.append(sla_clause(filt.sla, filt.now or datetime.now(UTC)))
    return clauses


DUE_SOON = timedelta(hours=4)
SLA_FILTERS = ("overdue", "due_soon")
_RUNNING = ("open", "active", "waiting")  # not resolved: the resolution clock still counts


def sla_clause(which: str, now: datetime) -> Combinable:
    """Tickets with an overdue (or soon due) SLA target; the due columns are indexed."""
    if which not in SLA_FILTERS:
        raise InvalidInput([("sla", f"must be one of {', '.join(SLA_FILTERS)}")])
    running = Ticket.state_category.is_in(list(_RUNNING))
    response_open = Ticket.first_response_at.is_null() & running
    overdue = ((Ticket.response_due_at < now) & response_open) | ((Ticket.resolution_due_at < now) & running)
    if which == "overdue":
        return overdue
    soon = now + DUE_SOON
    stopped = Ticket.state_category.not_in(list(_RUNNING))
    response_fine = (Ticket.response_due_at.is_null() | (Ticket.response_due_at >= now)
                     | Ticket.first_response_at.is_not_null() | stopped)
    resolution_fine = Ticket.resolution_due_at.is_null() | (Ticket.resolution_due_at >= now) | stopped
    coming = (((Ticket.response_due_at >= now) & (Ticket.response_due_at < soon) & response_open)
              | ((Ticket.resolution_due_at >= now) & (Ticket.resolution_due_at < soon) & running))
    return coming & response_fine & resolution_fine


def _where(rules: ScopeRules, filt: TicketFilter) -> list[Combinable]:
    scope = scope_where(rules)
    return ([] if scope is None else [scope]) + filter_where(filt)


def _check_sort(sort: str) -> tuple[str, bool]:
    """The sort column's name and whether it descends; InvalidInput for an unknown sort."""
    if sort not in SORTS:
        raise InvalidInput([("sort", f"must be one of {', '.join(SORTS)}")])
    return sort.lstrip("-"), sort.startswith("-")


def encode_cursor(sort: str, value: datetime | int, ticket_id: int) -> str:
    """The opaque cursor after a row: base64url of JSON ``{"s": sort, "v": value, "i": id}``."""
    shown: str | int = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps({"s": sort, "v": shown, "i": ticket_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_cursor(cursor: str, sort: str) -> tuple[datetime | int, int]:
    """The (sort value, id) a cursor of ``sort`` names; InvalidInput when it is not one."""
    column, _ = _check_sort(sort)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data: Any = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error) as exc:  # JSON, UTF-8 and base64 errors are ValueErrors
        raise InvalidInput([_BAD_CURSOR]) from exc
    if not isinstance(data, dict) or set(data) != {"s", "v", "i"} or data["s"] != sort:
        raise InvalidInput([_BAD_CURSOR])
    value, ticket_id = data["v"], data["i"]
    if not _is_int(ticket_id):
        raise InvalidInput([_BAD_CURSOR])
    if column == "id":
        if not _is_int(value) or value != ticket_id:
            raise InvalidInput([_BAD_CURSOR])
        return int(value), int(ticket_id)
    if not isinstance(value, str):
        raise InvalidInput([_BAD_CURSOR])
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput([_BAD_CURSOR]) from exc
    if when.tzinfo is None:
        raise InvalidInput([_BAD_CURSOR])
    return when, int(ticket_id)


def _after(column: str, descending: bool, value: datetime | int, ticket_id: int) -> WhereRaw:
    """Rows strictly after the cursor row in ``ORDER BY column, id`` (both the same direction)."""
    op = "<" if descending else ">"
    if column == "id":
        return WhereRaw(f"tickets.id {op} {{}}", ticket_id)
    # A row-value comparison: one index range on (column, id) on both engines.
    return WhereRaw(f"(tickets.{column}, tickets.id) {op} ({{}}, {{}})", value, ticket_id)


# ---------------------------------------------------------------------------------------------
# The list query, written out: the same SQL the Piccolo clauses above build (scope, filters,
# keyset), assembled from strings kept per scope, with the approvers of each row in a subquery
# instead of a second query. Building the Piccolo query cost more than running it.
# ---------------------------------------------------------------------------------------------

_LIST_COLUMNS = (
    "tickets.id, tickets.number, tickets.type, tickets.title, tickets.state, tickets.state_category, "
    "tickets.priority, tickets.requester_id, tickets.assignee_id, tickets.team, tickets.org_unit, "
    "tickets.created_at, tickets.updated_at, tickets.resolved_at, tickets.first_response_at, "
    "tickets.response_due_at, tickets.resolution_due_at, tickets.definition_version, tickets.row_version, "
    "tickets.fields, r.username AS requester_username, a.username AS assignee_username"
)
_APPROVERS = ("FROM approvals p JOIN users u ON u.id = p.approver_id WHERE p.ticket_id = tickets.id")
_LIST_FROM = (
    " FROM tickets LEFT JOIN users r ON r.id = tickets.requester_id "
    "LEFT JOIN users a ON a.id = tickets.assignee_id"
)


def _list_select(postgres: bool) -> str:
    agg = "array_agg(DISTINCT u.username)" if postgres else "group_concat(DISTINCT u.username)"
    return f"SELECT {_LIST_COLUMNS}, (SELECT {agg} {_APPROVERS}) AS approvers{_LIST_FROM}"


def _in(column: str, values: Sequence[str] | frozenset[str]) -> tuple[str, list[Any]]:
    names = sorted(values)
    return f"{column} IN ({', '.join(['{}'] * len(names))})", list(names)


def _users_in(column: str, usernames: Sequence[str] | frozenset[str]) -> tuple[str, list[Any]]:
    inner, args = _in("users.username", usernames)
    return f"{column} IN (SELECT users.id FROM users WHERE {inner})", args


def _rule_sql(rule: ScopeRule) -> tuple[str, list[Any]] | None:
    """The SQL twin of :func:`_rule_where`."""
    kind: tuple[str, list[Any]] | None
    if rule.kind == "all":
        kind = None
    elif not rule.values:
        return None
    elif rule.kind == "own":
        kind = _users_in("tickets.requester_id", rule.values)
    elif rule.kind == "assigned":
        kind = _users_in("tickets.assignee_id", rule.values)
    elif rule.kind == "approver":
        inner, args = _users_in("approvals.approver_id", rule.values)
        kind = f"tickets.id IN (SELECT approvals.ticket_id FROM approvals WHERE {inner})", args
    elif rule.kind == "team":
        kind = _in("tickets.team", rule.values)
    else:
        kind = _in("tickets.org_unit", rule.values)
    if rule.types is None:
        return kind
    if not rule.types:
        return None
    types = _in("tickets.type", rule.types)
    if kind is None:
        return types
    return f"({types[0]} AND {kind[0]})", types[1] + kind[1]


_SCOPE_SQL: dict[ScopeRules, tuple[str, tuple[Any, ...]] | None] = {}


def scope_sql(rules: ScopeRules) -> tuple[str, tuple[Any, ...]] | None:
    """:func:`scope_where` as SQL text and values (None: every ticket), kept per set of rules."""
    if rules in _SCOPE_SQL:
        return _SCOPE_SQL[rules]
    out: tuple[str, tuple[Any, ...]] | None
    if rules.everything:
        out = None
    else:
        parts = [p for p in (_rule_sql(r) for r in rules.rules) if p is not None]
        if not parts:
            out = ("1 = 0", ())
        else:
            out = ("(" + " OR ".join(p[0] for p in parts) + ")", tuple(a for p in parts for a in p[1]))
    if len(_SCOPE_SQL) >= 4096:
        _SCOPE_SQL.clear()
    _SCOPE_SQL[rules] = out
    return out


def _time_value(value: datetime, postgres: bool) -> Any:
    return value if postgres else sqlite_time(value)


def filter_sql(filt: TicketFilter, postgres: bool) -> tuple[list[str], list[Any]]:
    """:func:`filter_where` as SQL clauses (to AND) and their values."""
    clauses: list[str] = []
    args: list[Any] = []

    def add(part: tuple[str, list[Any]]) -> None:
        clauses.append(part[0])
        args.extend(part[1])

    for column, value in (("tickets.type", filt.type), ("tickets.state", filt.state),
                          ("tickets.state_category", filt.state_category), ("tickets.team", filt.team),
                          ("tickets.org_unit", filt.org_unit)):
        values = _names(value)
        if values:
            add(_in(column, values))
    if filt.assignee is not None:
        add(_users_in("tickets.assignee_id", [filt.assignee]))
    if filt.unassigned:
        clauses.append("tickets.assignee_id IS NULL")
    if filt.requester is not None:
        add(_users_in("tickets.requester_id", [filt.requester]))
    if filt.created_from is not None:
        add(("tickets.created_at >= {}", [_time_value(filt.created_from, postgres)]))
    if filt.created_to is not None:
        add(("tickets.created_at < {}", [_time_value(filt.created_to, postgres)]))
    if filt.q is not None and filt.q.strip():
        add(search_sql(filt.q))
    if filt.sla:
        add(sla_sql(filt.sla, filt.now or datetime.now(UTC), postgres))
    return clauses, args


_RUNNING_SQL = "tickets.state_category IN ('open', 'active', 'waiting')"
_RESPONSE_OPEN = f"tickets.first_response_at IS NULL AND {_RUNNING_SQL}"


def sla_sql(which: str, now: datetime, postgres: bool) -> tuple[str, list[Any]]:
    """:func:`sla_clause` as SQL and its values."""
    if which not in SLA_FILTERS:
        raise InvalidInput([("sla", f"must be one of {', '.join(SLA_FILTERS)}")])
    at = _time_value(now, postgres)
    # IS NOT NULL first: NOT over a NULL comparison would drop the row from "due soon"
    late = (f"((tickets.response_due_at IS NOT NULL AND tickets.response_due_at < {{}} AND {_RESPONSE_OPEN}) "
            f"OR (tickets.resolution_due_at IS NOT NULL AND tickets.resolution_due_at < {{}} AND {_RUNNING_SQL}))")
    if which == "overdue":
        return late, [at, at]
    soon = _time_value(now + DUE_SOON, postgres)
    coming = (f"((tickets.response_due_at >= {{}} AND tickets.response_due_at < {{}} AND {_RESPONSE_OPEN}) "
              f"OR (tickets.resolution_due_at >= {{}} AND tickets.resolution_due_at < {{}} AND {_RUNNING_SQL}))")
    return f"({coming} AND NOT {late})", [at, soon, at, soon, at, at]


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    when = datetime.fromisoformat(value)  # SQLite keeps UTC text, as Piccolo writes it
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


_decode_json = msgspec.json.Decoder().decode
_FIELDS = frozenset(f.name for f in dataclass_fields(TicketSnapshot))  # what _list_snapshot fills


def _list_snapshot(row: Sequence[Any]) -> TicketSnapshot:
    (ticket_id, number, type_, title, state, category, priority, requester_id, assignee_id, team, org_unit,
     created_at, updated_at, resolved_at, first_response_at, response_due_at, resolution_due_at, version,
     row_version, fields, requester, assignee, approvers) = row
    if isinstance(fields, str | bytes):
        fields = _decode_json(fields)
    if approvers is None:
        approver_set: frozenset[str] = frozenset()
    elif isinstance(approvers, str):
        approver_set = frozenset(approvers.split(","))  # usernames have no commas
    else:
        approver_set = frozenset(approvers)
    # TicketSnapshot is a frozen dataclass: its __init__ sets each of its 24 fields through
    # object.__setattr__, which is most of the cost of a list row. Fill the instance at once.
    snapshot: TicketSnapshot = object.__new__(TicketSnapshot)
    snapshot.__dict__.update(
        id=ticket_id, number=number or "", type=type_, title=title, state=state, priority=priority,
        requester=requester, assignee=assignee, team=team, org_unit=org_unit,
        fields=fields if isinstance(fields, dict) else {}, definition_version=version, row_version=row_version,
        created_at=_timestamp(created_at), updated_at=_timestamp(updated_at), extra={}, approvers=approver_set,
        requester_id=requester_id, assignee_id=assignee_id, state_category=category,
        resolved_at=_timestamp(resolved_at), first_response_at=_timestamp(first_response_at),
        response_due_at=_timestamp(response_due_at), resolution_due_at=_timestamp(resolution_due_at),
        sla={}, reopen_count=0,  # SLA clocks are for the ticket page, not for lists
    )
    return snapshot


async def list_tickets(rules: ScopeRules, filt: TicketFilter | None = None, *, limit: int = DEFAULT_LIMIT,
                       cursor: str | None = None) -> tuple[list[TicketSnapshot], str | None]:
    """One page of the tickets ``rules`` let through that match ``filt``, and the next page's cursor.

    ``limit`` is clamped to 1..:data:`MAX_LIMIT`. The cursor is None on the last page. Raises
    :class:`InvalidInput` for an unknown sort or a cursor that is not one this sort made.
    """
    filt = filt or TicketFilter()
    column, descending = _check_sort(filt.sort)
    limit = max(1, min(MAX_LIMIT, limit))
    postgres = is_postgres()
    clauses: list[str] = []
    args: list[Any] = []
    scope = scope_sql(rules)
    if scope is not None:
        clauses.append(scope[0])
        args.extend(scope[1])
    more_clauses, more_args = filter_sql(filt, postgres)
    clauses += more_clauses
    args += more_args
    if cursor is not None:
        value, after_id = decode_cursor(cursor, filt.sort)
        op = "<" if descending else ">"
        if column == "id":
            clauses.append(f"tickets.id {op} {{}}")
            args.append(after_id)
        else:
            # A row-value comparison: one index range on (column, id) on both engines.
            clauses.append(f"(tickets.{column}, tickets.id) {op} ({{}}, {{}})")
            args.extend((_time_value(value, postgres) if isinstance(value, datetime) else value, after_id))
    direction = "DESC" if descending else "ASC"
    # A personal work queue (assigned to me / my requests, not yet done) is a few rows found
    # through the (assignee, category) or (requester, id) indexes. With bound parameters SQLite
    # cannot tell, and walks the whole created_at index to avoid a sort (0.75 s on 1M tickets
    # for an empty queue); the unary + keeps it on the person's index and sorts the few rows.
    # Without a category filter the person's history can be large (a store manager: 30,000
    # tickets), where walking created_at until a page is found is the better plan.
    personal = not postgres and bool(filt.state_category) and (
        filt.assignee is not None or filt.requester is not None)
    sort_key = f"+tickets.{column}" if personal else f"tickets.{column}"
    if postgres and filt.q and len(" ".join(filt.q.split())) >= MIN_INDEXED_CHARS:
        # A text search on PostgreSQL: find the matches through the trigram index and sort them,
        # rather than walk the newest tickets testing ILIKE on each until a page is found (a
        # phrase in 2 % of a store's unfinished tickets: 134 ms walking, 34 ms sorting). Not for
        # a query shorter than a trigram: the index cannot find its matches, and sorting them
        # means reading every ticket (two characters on 1M tickets: 1.1 s; walking: 0.13 s).
        sort_key = "(tickets.id + 0)" if column == "id" else f"(tickets.{column} + interval '0 s')"
    order = f"{sort_key} {direction}" + ("" if column == "id" else f", tickets.id {direction}")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    # The limit is written out, not bound: a prepared statement's generic plan on PostgreSQL
    # assumes a bound LIMIT keeps a tenth of the table, costs the plan in the millions and JIT-
    # compiles it (~280 ms a page), so PostgreSQL would plan every call afresh instead (~1 ms).
    sql = f"{_list_select(postgres)}{where} ORDER BY {order} LIMIT {int(limit) + 1}"
    # How many rows a search phrase, a person or a time range keeps varies by orders of magnitude
    # with the value: such lists are planned for their values on PostgreSQL (a scope alone is not).
    varies = bool(filt.q and filt.q.strip()) or filt.assignee is not None or filt.requester is not None or bool(
        filt.created_from or filt.created_to or filt.sla)
    rows = await fetch_rows(sql, *args, plan_per_call=varies)
    page = [_list_snapshot(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor(filt.sort, getattr(last, column), last.id)


async def count_tickets(rules: ScopeRules, filt: TicketFilter | None = None) -> int:
    """How many tickets ``rules`` let through match ``filt`` (its sort is ignored)."""
    clauses = _where(rules, filt or TicketFilter())
    query = Ticket.count()
    if clauses:
        query = query.where(*clauses)
    return int(await query.run())
