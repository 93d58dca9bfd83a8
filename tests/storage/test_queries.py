"""Ticket lists: scope rules as SQL, filters, text search and keyset pagination, on both engines."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.runtime import auth
from engine.runtime.errors import InvalidInput
from engine.runtime.model import TicketSnapshot
from engine.runtime.permissions import ScopeKind, ScopeRule, ScopeRules
from engine.runtime.storage import NewTicket, fetch_ticket, insert_ticket, update_ticket
from engine.runtime.storage.queries import (
    MAX_LIMIT,
    SORTS,
    TicketFilter,
    count_tickets,
    decode_cursor,
    encode_cursor,
    list_tickets,
    scope_where,
)
from engine.runtime.storage.tables import Approval

from .conftest import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)  # in the past: updates stamp a later updated_at
EVERYTHING = ScopeRules((ScopeRule(None, "all"),))


def _rules(*rules: ScopeRule) -> ScopeRules:
    return ScopeRules(rules)


def _rule(kind: ScopeKind, *values: str, types: tuple[str, ...] | None = None) -> ScopeRule:
    return ScopeRule(None if types is None else frozenset(types), kind, frozenset(values))


@dataclass(frozen=True)
class Spread:
    """The inserted tickets, in id order (ids 1..n), as fetched back with their approvers."""

    tickets: tuple[TicketSnapshot, ...]

    def ids(self, keep: ScopeRules) -> list[int]:
        return [t.id for t in self.tickets if keep.matches(t)]


async def _spread() -> Spread:
    """Eight tickets across types, people, teams, org units and clocks (some created_at equal)."""
    users = {name: await auth.create_user(name, None, org_unit=unit) for name, unit in [
        ("alice", "workshop_a"), ("bob", "factory"), ("carol", None), ("tom", "factory"),
        ("eve", "factory"), ("amy", "factory")]}

    def new(type_: str, title: str, requester: str, created: datetime, *, assignee: str | None = None,
            team: str | None = None, org_unit: str | None = None, state: str = "reported",
            category: str = "open", fields: dict[str, object] | None = None) -> NewTicket:
        return NewTicket(
            type=type_, title=title, state=state, state_category=category, priority="normal",
            requester_id=users[requester].id, definition_version="v1", fields=fields or {},
            assignee_id=None if assignee is None else users[assignee].id, team=team, org_unit=org_unit,
            created_at=created)

    half = timedelta(milliseconds=500)
    specs = [
        new("repair", "空调不制冷", "alice", T0, assignee="tom", team="mechanical", org_unit="workshop_a",
            fields={"location": "二号车间", "device_no": "AC-7"}),
        new("repair", "Conveyor belt slipping", "bob", T0, team="electrical", org_unit="factory",
            fields={"notes": "冷库也不制冷了"}),
        new("it_request", "Laptop screen broken", "alice", T0 + half, assignee="eve", team="electrical",
            org_unit="factory", state="in_progress", category="active"),
        new("it_request", "打印机卡纸", "bob", T0 + half, assignee="tom", org_unit="workshop_a"),
        new("purchase", "采购 50% 润滑油", "carol", T0 + half, team="mechanical",
            state="awaiting_approval", category="waiting"),
        new("repair", "Leaking pipe", "carol", T0 + timedelta(minutes=1), assignee="eve", team="mechanical",
            org_unit="factory", state="done", category="resolved", fields={"parts": ["阀门", "gasket"]}),
        new("repair", "电机异响", "alice", T0 + timedelta(minutes=1), team="mechanical", org_unit="factory"),
        new("purchase", "Safety gloves", "bob", T0 - timedelta(days=1), org_unit="workshop_a"),
    ]
    for spec in specs:
        await insert_ticket(spec)
    await Approval.insert(Approval(ticket_id=5, approval_id="budget", level_id="manager",
                                   approver_id=users["amy"].id)).run()
    # Touch two tickets so updated_at differs from created_at (and ties on created_at are broken).
    for ticket_id in (2, 7):
        current = await fetch_ticket(ticket_id)
        assert current is not None
        await update_ticket(ticket_id, current.row_version, {"priority": "high"})
    loaded = [await fetch_ticket(i) for i in range(1, len(specs) + 1)]
    assert all(t is not None for t in loaded)
    return Spread(tuple(t for t in loaded if t is not None))


async def _all_ids(rules: ScopeRules, filt: TicketFilter | None = None) -> list[int]:
    page, cursor = await list_tickets(rules, replace(filt or TicketFilter(), sort="id"), limit=MAX_LIMIT)
    assert cursor is None
    return [t.id for t in page]


async def test_scopes_match_the_in_memory_rules(db: Backend) -> None:
    spread = await _spread()
    cases: dict[str, tuple[ScopeRules, list[int]]] = {
        "own": (_rules(_rule("own", "alice")), [1, 3, 7]),
        "own several": (_rules(_rule("own", "alice", "carol")), [1, 3, 5, 6, 7]),
        "assigned": (_rules(_rule("assigned", "tom")), [1, 4]),
        "approver": (_rules(_rule("approver", "amy")), [5]),
        "team": (_rules(_rule("team", "mechanical")), [1, 5, 6, 7]),
        "org units": (_rules(_rule("org_units", "factory")), [2, 3, 6, 7]),
        "types only": (_rules(_rule("all", types=("repair",))), [1, 2, 6, 7]),
        "team of a type": (_rules(_rule("team", "electrical", types=("it_request",))), [3]),
        "org units of two types": (_rules(_rule("org_units", "workshop_a", types=("it_request", "purchase"))),
                                   [4, 8]),
        "any of": (_rules(_rule("own", "bob"), _rule("assigned", "eve"), _rule("approver", "amy"),
                          _rule("team", "mechanical", types=("purchase",))), [2, 3, 4, 5, 6, 8]),
        "unknown user": (_rules(_rule("own", "nobody"), _rule("approver", "nobody")), []),
        "no values": (_rules(_rule("team"), _rule("own")), []),
        "no rules": (ScopeRules(()), []),
        "everything": (EVERYTHING, list(range(1, 9))),
    }
    for name, (rules, expected) in cases.items():
        assert spread.ids(rules) == expected, name  # the fixture says what the test thinks it says
        assert await _all_ids(rules) == expected, name
        assert await count_tickets(rules) == len(expected), name
    assert scope_where(EVERYTHING) is None
    assert scope_where(ScopeRules(())) is not None


async def test_pages_carry_the_stored_ticket(db: Backend) -> None:
    spread = await _spread()
    page, _ = await list_tickets(_rules(_rule("approver", "amy")))
    assert page == [spread.tickets[4]]
    assert page[0].approvers == frozenset({"amy"}) and page[0].requester == "carol"
    everything, _ = await list_tickets(_rules(_rule("all")))
    assert sorted(everything, key=lambda t: t.id) == list(spread.tickets)  # every column, as fetch_ticket reads it
    assert all(set(vars(t)) == {f.name for f in fields(TicketSnapshot)} for t in everything)


async def test_filters_combine(db: Backend) -> None:
    await _spread()
    cases: list[tuple[TicketFilter, list[int]]] = [
        (TicketFilter(), list(range(1, 9))),
        (TicketFilter(type=["repair", "purchase"]), [1, 2, 5, 6, 7, 8]),
        (TicketFilter(type="repair"), [1, 2, 6, 7]),  # one string is one value
        (TicketFilter(state=["in_progress", "done"]), [3, 6]),
        (TicketFilter(state_category=["open"]), [1, 2, 4, 7, 8]),
        (TicketFilter(assignee="tom"), [1, 4]),
        (TicketFilter(assignee="nobody"), []),
        (TicketFilter(unassigned=True), [2, 5, 7, 8]),
        (TicketFilter(team=["mechanical"]), [1, 5, 6, 7]),
        (TicketFilter(team="electrical"), [2, 3]),
        (TicketFilter(org_unit=["workshop_a", "factory"]), [1, 2, 3, 4, 6, 7, 8]),
        (TicketFilter(requester="bob"), [2, 4, 8]),
        (TicketFilter(created_from=T0 + timedelta(milliseconds=500)), [3, 4, 5, 6, 7]),
        (TicketFilter(created_to=T0 + timedelta(milliseconds=500)), [1, 2, 8]),
        (TicketFilter(created_from=T0, created_to=T0 + timedelta(minutes=1)), [1, 2, 3, 4, 5]),
        (TicketFilter(type=["repair"], state_category=["open"], team=["mechanical"]), [1, 7]),
        (TicketFilter(requester="alice", unassigned=True), [7]),
        (TicketFilter(assignee="tom", unassigned=True), []),
        (TicketFilter(org_unit=["factory"], q="不制冷"), [2]),
    ]
    for filt, expected in cases:
        assert await _all_ids(EVERYTHING, filt) == expected, filt
        assert await count_tickets(EVERYTHING, filt) == len(expected), filt
    # Scope and filters narrow each other.
    rules = _rules(_rule("own", "alice"), _rule("team", "electrical"))
    assert await _all_ids(rules) == [1, 2, 3, 7]
    assert await _all_ids(rules, TicketFilter(type=["repair"])) == [1, 2, 7]
    assert await count_tickets(rules, TicketFilter(state_category=["open"])) == 3


async def test_text_search(db: Backend) -> None:
    await _spread()
    cases = {
        "不制冷": [1, 2],  # title and a field value, three characters (SQLite: FTS5 trigram)
        "空调不制冷": [1],
        "阀门": [6],  # two characters inside a list field (SQLite: LIKE)
        "冷": [1, 2],
        "conveyor BELT": [2],  # case-insensitive for Latin letters
        "gasket": [6],
        "AC-7": [1],
        "GD-000004": [4],  # the number is searchable
        "50%": [5],  # LIKE wildcards are literal
        "%": [5],
        "_": [],
        "制冷 空调": [],
    }
    for q, expected in cases.items():
        assert await _all_ids(EVERYTHING, TicketFilter(q=q)) == expected, q
    assert await _all_ids(EVERYTHING, TicketFilter(q="  ")) == list(range(1, 9))
    assert await _all_ids(_rules(_rule("own", "alice")), TicketFilter(q="不制冷")) == [1]


def _expected_order(spread: Spread, sort: str, keep: ScopeRules = EVERYTHING) -> list[int]:
    column = sort.lstrip("-")
    rows = [t for t in spread.tickets if keep.matches(t)]
    rows.sort(key=lambda t: (getattr(t, column), t.id), reverse=sort.startswith("-"))
    return [t.id for t in rows]


async def _walk(rules: ScopeRules, filt: TicketFilter, limit: int) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        page, cursor = await list_tickets(rules, filt, limit=limit, cursor=cursor)
        pages.append([t.id for t in page])
        if cursor is None:
            return pages
        assert len(pages) <= 20, "pagination does not end"


async def test_pagination_walks_every_row_once_in_order(db: Backend) -> None:
    spread = await _spread()
    assert _expected_order(spread, "-created_at") == [7, 6, 5, 4, 3, 2, 1, 8]  # ties newest id first
    assert _expected_order(spread, "updated_at")[-2:] == [2, 7]
    for sort in SORTS:
        expected = _expected_order(spread, sort)
        pages = await _walk(EVERYTHING, TicketFilter(sort=sort), 2)
        assert pages == [expected[i:i + 2] for i in range(0, len(expected), 2)], sort
        three = await _walk(EVERYTHING, TicketFilter(sort=sort), 3)
        assert [i for p in three for i in p] == expected and [len(p) for p in three] == [3, 3, 2], sort
    # With a scope and a filter; the default sort is newest first.
    rules = _rules(_rule("team", "mechanical"), _rule("own", "bob"))
    pages = await _walk(rules, TicketFilter(state_category=["open", "waiting", "resolved"]), 2)
    assert pages == [[7, 6], [5, 4], [2, 1], [8]]
    # An exact fit ends without an empty extra page.
    assert await _walk(_rules(_rule("own", "alice")), TicketFilter(), 3) == [[7, 3, 1]]
    assert await _walk(ScopeRules(()), TicketFilter(), 2) == [[]]


async def test_later_pages_see_new_rows_only_after_the_cursor(db: Backend) -> None:
    spread = await _spread()
    first, cursor = await list_tickets(EVERYTHING, TicketFilter(sort="created_at"), limit=4)
    assert [t.id for t in first] == [8, 1, 2, 3] and cursor is not None
    # A new ticket with the same created_at as the cursor row sorts after it (higher id).
    bob = spread.tickets[1].requester_id
    assert bob is not None
    await insert_ticket(NewTicket(type="repair", title="late", state="reported", state_category="open",
                                  priority="low", requester_id=bob, definition_version="v1",
                                  created_at=T0 + timedelta(milliseconds=500)))
    rest, cursor = await list_tickets(EVERYTHING, TicketFilter(sort="created_at"), limit=10, cursor=cursor)
    assert [t.id for t in rest] == [4, 5, 9, 6, 7] and cursor is None


async def test_limit_is_clamped(db: Backend) -> None:
    await _spread()
    page, cursor = await list_tickets(EVERYTHING, limit=0)
    assert [t.id for t in page] == [7] and cursor is not None
    page, cursor = await list_tickets(EVERYTHING, limit=-5, cursor=cursor)
    assert [t.id for t in page] == [6]
    page, cursor = await list_tickets(EVERYTHING, limit=10_000)
    assert len(page) == 8 and cursor is None


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_bad_cursor_and_sort(db: Backend) -> None:
    await _spread()
    _, good = await list_tickets(EVERYTHING, limit=2)
    assert good is not None
    when = (T0 + timedelta(minutes=1)).isoformat()
    bad = [
        "", "not a cursor!", "eyJ", "////", _b64([1, 2]), _b64("x"), base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _b64({"s": "-created_at", "v": when}),
        _b64({"s": "-created_at", "v": when, "i": "7"}),
        _b64({"s": "-created_at", "v": when, "i": True}),
        _b64({"s": "-created_at", "v": "yesterday", "i": 7}),
        _b64({"s": "-created_at", "v": "2024-03-01T08:01:00", "i": 7}),  # no time zone
        _b64({"s": "-created_at", "v": 7, "i": 7}),
        _b64({"s": "-created_at", "v": when, "i": 7, "x": 1}),
        _b64({"s": "created_at", "v": when, "i": 7}),  # made for another sort
        good + "x",
    ]
    for cursor in bad:
        with pytest.raises(InvalidInput) as info:
            await list_tickets(EVERYTHING, limit=2, cursor=cursor)
        assert info.value.errors == (("cursor", "is not a valid cursor"),), cursor
    with pytest.raises(InvalidInput):
        await list_tickets(EVERYTHING, TicketFilter(sort="-created_at"), cursor=_b64({"s": "-id", "v": 3, "i": 3}))
    with pytest.raises(InvalidInput) as info:
        await list_tickets(EVERYTHING, TicketFilter(sort="priority"))  # type: ignore[arg-type]
    assert info.value.errors[0][0] == "sort"
    # A well-formed cursor naming a row that no longer matches still continues after its key.
    page, _ = await list_tickets(EVERYTHING, TicketFilter(sort="-id"), cursor=encode_cursor("-id", 5, 5))
    assert [t.id for t in page] == [4, 3, 2, 1]


def test_cursor_round_trip() -> None:
    when = datetime(2030, 3, 1, 8, 0, 0, 250, tzinfo=UTC)
    assert decode_cursor(encode_cursor("-updated_at", when, 12), "-updated_at") == (when, 12)
    assert decode_cursor(encode_cursor("id", 12, 12), "id") == (12, 12)
    assert "=" not in encode_cursor("created_at", when, 1)
