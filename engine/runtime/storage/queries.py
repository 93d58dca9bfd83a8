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
from datetime import datetime
from functools import reduce
from typing import Any, Literal, get_args

from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable
from piccolo.query.methods.select import Select

from engine.runtime.errors import InvalidInput
from engine.runtime.model import TicketSnapshot
from engine.runtime.permissions import ScopeRule, ScopeRules

from .search import search_clause
from .tables import Approval, Ticket, User
from .tickets import snapshot_from_row, ticket_select

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SORTS",
    "SortKey",
    "TicketFilter",
    "count_tickets",
    "decode_cursor",
    "encode_cursor",
    "filter_where",
    "list_tickets",
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
    return clauses


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


async def _approvers(ticket_ids: list[int]) -> dict[int, frozenset[str]]:
    """Everyone with an approval row on each ticket, for one page in one query."""
    if not ticket_ids:
        return {}
    rows = await Approval.select(
        Approval.ticket_id, Approval.approver_id.username.as_alias("u"),
    ).where(Approval.ticket_id.is_in(ticket_ids)).distinct().run()
    out: dict[int, set[str]] = {}
    for row in rows:
        out.setdefault(row["ticket_id"], set()).add(row["u"])
    return {k: frozenset(v) for k, v in out.items()}


async def list_tickets(rules: ScopeRules, filt: TicketFilter | None = None, *, limit: int = DEFAULT_LIMIT,
                       cursor: str | None = None) -> tuple[list[TicketSnapshot], str | None]:
    """One page of the tickets ``rules`` let through that match ``filt``, and the next page's cursor.

    ``limit`` is clamped to 1..:data:`MAX_LIMIT`. The cursor is None on the last page. Raises
    :class:`InvalidInput` for an unknown sort or a cursor that is not one this sort made.
    """
    filt = filt or TicketFilter()
    column, descending = _check_sort(filt.sort)
    limit = max(1, min(MAX_LIMIT, limit))
    clauses = _where(rules, filt)
    if cursor is not None:
        value, after_id = decode_cursor(cursor, filt.sort)
        clauses.append(_after(column, descending, value, after_id))
    query = ticket_select()
    if clauses:
        query = query.where(*clauses)
    sort_column = Ticket._meta.get_column_by_name(column)
    query = query.order_by(sort_column, ascending=not descending)
    if column != "id":
        query = query.order_by(Ticket.id, ascending=not descending)
    rows = await query.limit(limit + 1).run()
    more = len(rows) > limit
    rows = rows[:limit]
    approvers = await _approvers([row["id"] for row in rows])
    page = [snapshot_from_row(row, approvers.get(row["id"], frozenset())) for row in rows]
    if not more:
        return page, None
    last = rows[-1]
    return page, encode_cursor(filt.sort, last[column], last["id"])


async def count_tickets(rules: ScopeRules, filt: TicketFilter | None = None) -> int:
    """How many tickets ``rules`` let through match ``filt`` (its sort is ignored)."""
    clauses = _where(rules, filt or TicketFilter())
    query = Ticket.count()
    if clauses:
        query = query.where(*clauses)
    return int(await query.run())
