"""Reports aggregated in SQL: hand-computed figures on a small fixture, the same on SQLite and PostgreSQL.

The fixture (``report_defs``, tickets below) is written straight into the tickets table with known
clocks, due times and business seconds, so every expected figure here is worked out by hand from
the table in :func:`_tickets` — not by the code under test. Each test runs on both engines
(the ``db`` fixture), so both must give exactly these figures.

Times: the organisation's zone is Asia/Shanghai (UTC+8): local day D runs from D-1 16:00 UTC
to D 16:00 UTC. "Now" is 2026-03-10 04:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.runtime import auth
from engine.runtime.errors import InvalidInput
from engine.runtime.model import Actor
from engine.runtime.permissions import scope_rules
from engine.runtime.reports import ReportResult
from engine.runtime.storage import NewTicket, insert_ticket
from engine.runtime.storage.reports import people_of, run_report
from engine.runtime.storage.tables import Ticket
from engine.schema import Catalog, check_definitions
from engine.schema.kinds.report import TimeRange

from .conftest import Backend

pytestmark = pytest.mark.anyio

DEFS = Path(__file__).parent / "report_defs"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    result = check_definitions(DEFS)
    assert result.catalog is not None, [d.render() for d in result.diagnostics]
    return result.catalog


# username: (roles, org unit)
PEOPLE = {
    "alice": (["staff"], "store_sh01"), "bob": (["staff"], "store_hz01"), "carol": (["staff"], "store_gz01"),
    "agent1": (["agent"], "hq"), "agent2": (["agent"], "hq"), "zhou": (["region_manager"], "east"),
    "sun": (["region_manager"], "south"), "root": (["admin"], "hq"),
}


@dataclass(frozen=True)
class T:
    """One fixture ticket: what the report reads of it."""

    n: int
    type: str
    requester: str
    org_unit: str | None
    created: str
    state: str
    category: str
    fields: dict[str, Any]
    resolved: str | None = None
    response_due: str | None = None
    first_response: str | None = None
    resolution_due: str | None = None
    fr_seconds: int | None = None
    res_seconds: int | None = None
    reopens: int = 0
    assignee: str | None = None


def _tickets() -> list[T]:
    """The fixture. Local (Shanghai) days and SLA outcomes are noted per ticket; 'late' is at NOW."""
    return [
        # 03-01 09:00 local; responded and resolved in time
        T(1, "complaint", "alice", "store_sh01", "2026-03-01 01:00", "resolved", "resolved",
          {"category": "price", "tags": ["urgent", "vip"], "model": "X1", "store": "store_sh01", "reviewed": True,
           "handler": "agent1", "amount": 100},
          resolved="2026-03-01 05:00", response_due="2026-03-01 03:00", first_response="2026-03-01 02:00",
          resolution_due="2026-03-02 01:00", fr_seconds=3600, res_seconds=14400, assignee="agent1"),
        # 03-02 23:59:59 local: the last second of the 2nd; response and resolution late
        T(2, "complaint", "alice", "store_sh01", "2026-03-02 15:59:59", "closed", "closed",
          {"category": "service", "tags": ["urgent"], "model": "X1", "reviewed": False, "handler": "agent2",
           "amount": 20.5},
          resolved="2026-03-04 00:00", response_due="2026-03-02 17:59:59", first_response="2026-03-02 19:00",
          resolution_due="2026-03-03 15:59:59", fr_seconds=10801, res_seconds=115201, reopens=1,
          assignee="agent1"),
        # 03-03 00:00 local: the first second of the 3rd; unresolved past its due time
        T(3, "complaint", "bob", "store_hz01", "2026-03-02 16:00", "handling", "active",
          {"category": "price", "tags": [], "model": "Y2"},
          response_due="2026-03-02 18:00", first_response="2026-03-02 17:00", resolution_due="2026-03-03 16:00",
          fr_seconds=3600, assignee="agent2"),
        # 03-04; never answered: both targets late
        T(4, "complaint", "bob", "store_hz01", "2026-03-04 02:00", "open", "open",
          {"category": "quality", "model": "Y2", "reviewed": True},
          response_due="2026-03-04 04:00", resolution_due="2026-03-05 02:00"),
        # 03-05; no due times (the clock was paused): counts for no SLA figure
        T(5, "complaint", "carol", "store_gz01", "2026-03-05 03:00", "resolved", "resolved",
          {"category": "service", "tags": ["vip"], "model": "X1"},
          resolved="2026-03-05 09:00", first_response="2026-03-05 04:00", fr_seconds=3600, res_seconds=21600,
          reopens=2),
        # 03-06; cancelled in time: not resolved, not late
        T(6, "complaint", "carol", "store_gz01", "2026-03-06 10:00", "cancelled", "cancelled",
          {"category": "price", "tags": ["repeat", "urgent"], "model": "Z3", "handler": "agent1"},
          resolved="2026-03-06 11:00", response_due="2026-03-06 12:00", first_response="2026-03-06 10:30",
          resolution_due="2026-03-07 10:00", fr_seconds=1800),
        # 03-08 00:30 local: after the range
        T(7, "complaint", "alice", "store_sh01", "2026-03-07 16:30", "open", "open", {"category": "price"}),
        # 02-28 23:00 local: before the range
        T(8, "complaint", "alice", "store_sh01", "2026-02-28 15:00", "open", "open", {"category": "price"}),
        # 03-03 13:00 local, raised at HQ (no region above it); waiting
        T(9, "complaint", "agent1", "hq", "2026-03-03 05:00", "paused", "waiting", {"category": "quality"},
          response_due="2026-03-03 07:00", first_response="2026-03-03 06:00", fr_seconds=3600),
        # created in February, resolved on 03-03 (for reports on resolved time); late
        T(10, "complaint", "alice", "store_sh01", "2026-02-27 00:00", "resolved", "resolved", {"category": "price"},
          resolved="2026-03-03 08:00", resolution_due="2026-02-28 00:00", fr_seconds=7200, res_seconds=400000),
        T(11, "note", "alice", "store_sh01", "2026-03-02 02:00", "open", "open", {"category": "misc"}),
        T(12, "note", "carol", "store_gz01", "2026-03-05 02:00", "closed", "closed", {"category": "other"},
          resolved="2026-03-05 05:00"),
        # 03-06 09:00 local; in time
        T(13, "complaint", "alice", "store_sh01", "2026-03-06 01:00", "resolved", "resolved",
          {"category": "service", "tags": ["vip"], "model": "X1"},
          resolved="2026-03-06 03:00", response_due="2026-03-06 03:00", first_response="2026-03-06 01:10",
          resolution_due="2026-03-07 01:00", fr_seconds=601, res_seconds=7201),
    ]


def _at(text: str | None) -> datetime | None:
    return None if text is None else utc(text)


async def _load() -> dict[str, Actor]:
    users = {name: await auth.create_user(name, None, roles=roles, org_unit=unit,
                                          display_name=f"{name.title()} Display")
             for name, (roles, unit) in PEOPLE.items()}
    for t in _tickets():
        new = NewTicket(type=t.type, title=f"ticket {t.n}", state=t.state, state_category=t.category,
                        priority="normal", requester_id=users[t.requester].id, definition_version="v1",
                        fields=t.fields, org_unit=t.org_unit, created_at=utc(t.created),
                        assignee_id=users[t.assignee].id if t.assignee else None,
                        response_due_at=_at(t.response_due), resolution_due_at=_at(t.resolution_due))
        ticket = await insert_ticket(new)
        assert ticket.id == t.n
        await Ticket.update({
            Ticket.resolved_at: _at(t.resolved), Ticket.first_response_at: _at(t.first_response),
            Ticket.first_response_seconds: t.fr_seconds, Ticket.resolution_seconds: t.res_seconds,
            Ticket.reopen_count: t.reopens,
        }).where(Ticket.id == t.n).run()
    return {name: await auth.actor_for_user(name) for name in PEOPLE}


@pytest.fixture
async def people(db: Backend) -> dict[str, Actor]:
    return await _load()


async def _run(catalog: Catalog, name: str, actor: Actor, **kw: Any) -> ReportResult:
    report = catalog.reports[name]
    return await run_report(catalog, report, scope_rules(catalog, actor), NOW, kw.pop("zone", SHANGHAI), **kw)


def _table(result: ReportResult) -> list[tuple[Any, ...]]:
    return [(*row.keys, *(row.values[m] for m in result.report.measures)) for row in result.rows]


# --- figures ---------------------------------------------------------------------------------


async def test_counts_rates_and_sla_by_region(catalog: Catalog, people: dict[str, Actor]) -> None:
    """East: tickets 1, 2, 3, 4, 13; south: 5, 6; HQ (no region): 9. 7 and 8 fall outside the days."""
    result = await _run(catalog, "by_region", people["root"])
    # created, resolved, backlog, resolution_rate, overdue, overdue_rate, sla_compliance,
    # response_overdue_rate, response_sla_compliance, reopens
    assert _table(result) == [
        # resolved 1, 2, 13; open 3, 4; late resolution 2, 3, 4 of 5; late response 2, 4 of 5
        ("east", 5, 3, 2, 60.0, 3, 60.0, 40.0, 40.0, 60.0, 1),
        # resolved 5 (6 is cancelled); only 6 has due times, and met them
        ("south", 2, 1, 0, 50.0, 0, 0.0, 100.0, 0.0, 100.0, 2),
        # 9 is waiting; it has a response due time (met) and no resolution due time
        (None, 1, 0, 1, 0.0, 0, None, None, 0.0, 100.0, 0),
    ]


async def test_means_medians_and_nearest_rank_percentiles(catalog: Catalog, people: dict[str, Actor]) -> None:
    """X1: 1, 2, 5, 13; Y2: 3, 4; Z3: 6; no model: 9. Percentile P of n values: rank ceil(P * n / 100)."""
    result = await _run(catalog, "times", people["agent1"])
    # created, mean/median/p90 first response, mean/median/p90 resolution
    assert _table(result) == [
        # first response 601, 3600, 3600, 10801: mean 18602 / 4; median rank 2; p90 rank 4
        # resolution 7201, 14400, 21600, 115201: mean 158402 / 4
        ("X1", 4, 4650.5, 3600, 10801, 39600.5, 14400, 115201),
        ("Y2", 2, 3600.0, 3600, 3600, None, None, None),  # 4 has no first response yet
        ("Z3", 1, 1800.0, 1800, 1800, None, None, None),
        (None, 1, 3600.0, 3600, 3600, None, None, None),
    ]


async def test_days_in_the_organisations_time_zone(catalog: Catalog, people: dict[str, Actor]) -> None:
    """Ticket 2 (15:59:59 UTC) is on the 2nd, ticket 3 (16:00 UTC) on the 3rd; the 7th is quiet but listed."""
    result = await _run(catalog, "daily", people["agent1"])
    assert [(row.keys[0].isoformat(), row.values["created"], row.values["resolved"]) for row in result.rows] == [
        ("2026-03-01", 1, 1), ("2026-03-02", 1, 1), ("2026-03-03", 2, 0), ("2026-03-04", 1, 0),
        ("2026-03-05", 1, 1), ("2026-03-06", 2, 1), ("2026-03-07", 0, 0),
    ]


async def test_days_across_a_daylight_saving_change(catalog: Catalog, people: dict[str, Actor]) -> None:
    """In Berlin 2026-03-29 has 23 hours: 22:30 UTC that evening is already 00:30 on the 30th."""
    result = await _run(catalog, "daily", people["agent1"], zone=ZoneInfo("Europe/Berlin"),
                        spec_range=TimeRange(from_="2026-03-01", to="2026-03-07"))
    # Berlin is UTC+1 in early March: 2 (15:59:59 UTC) and 3 (16:00 UTC) are both on the 2nd, 7 on the 7th
    assert [(row.keys[0].day, row.values["created"]) for row in result.rows] == [
        (1, 1), (2, 2), (3, 1), (4, 1), (5, 1), (6, 2), (7, 1)]
    for text, day in (("2026-03-28 23:30", 29), ("2026-03-29 21:59", 29), ("2026-03-29 22:00", 30),
                      ("2026-03-29 22:30", 30)):
        await Ticket.update({Ticket.created_at: utc(text)}).where(Ticket.id == 7).run()
        result = await _run(catalog, "daily", people["agent1"], zone=ZoneInfo("Europe/Berlin"),
                            spec_range=TimeRange(from_="2026-03-28", to="2026-03-30"))
        assert [r.keys[0].day for r in result.rows if r.values["created"]] == [day], text


async def test_multiselect_counts_each_option_and_select_keeps_its_order(
        catalog: Catalog, people: dict[str, Actor]) -> None:
    result = await _run(catalog, "tags", people["agent1"])
    assert _table(result) == [
        ("urgent", "price", 2), ("urgent", "service", 1),  # 1 and 6; 2
        ("vip", "price", 1), ("vip", "service", 2),  # 1; 5 and 13
        ("repeat", "price", 1),  # 6
        (None, "price", 1), (None, "quality", 2),  # 3 (empty list); 4 and 9 (no tags at all)
    ]


async def test_condition_and_store_level(catalog: Catalog, people: dict[str, Actor]) -> None:
    """Price or service, not reviewed: 2, 13 (Shanghai), 3 (Hangzhou), 5, 6 (Guangzhou); 1 is reviewed."""
    result = await _run(catalog, "unreviewed", people["agent1"])
    assert _table(result) == [("store_sh01", 2), ("store_hz01", 1), ("store_gz01", 2)]


async def test_resolved_time_and_weeks(catalog: Catalog, people: dict[str, Actor]) -> None:
    """Resolved in the week of 03-02: 2, 5, 6 (cancelled), 10, 13; 1 was resolved on 03-01; the next week is empty."""
    result = await _run(catalog, "resolved_weekly", people["agent1"])
    assert [(row.keys[0].isoformat(), row.values["created"], row.values["resolved"]) for row in result.rows] == [
        ("2026-03-02", 5, 4), ("2026-03-09", 0, 0)]


async def test_every_type_by_status(catalog: Catalog, people: dict[str, Actor]) -> None:
    result = await _run(catalog, "mix", people["agent1"])
    assert _table(result) == [
        ("complaint", "open", 1), ("complaint", "active", 1), ("complaint", "waiting", 1),
        ("complaint", "resolved", 3), ("complaint", "closed", 1), ("complaint", "cancelled", 1),
        ("note", "open", 1), ("note", "closed", 1),
    ]


async def test_people_and_booleans(catalog: Catalog, people: dict[str, Actor]) -> None:
    result = await _run(catalog, "people", people["agent1"])
    assert _table(result) == [("agent1", 2, 0), ("agent2", 1, 1), (None, 5, 2)]
    assert await people_of(result) == {"agent1": "Agent1 Display", "agent2": "Agent2 Display"}
    result = await _run(catalog, "reviewed", people["agent1"])
    assert _table(result) == [
        ("true", "agent1", 1), ("true", None, 1),  # 1; 4
        ("false", "agent2", 1),  # 2
        (None, "agent1", 1), (None, None, 4),  # 6; 3, 5, 9, 13
    ]


# --- scope -----------------------------------------------------------------------------------


async def test_a_region_manager_sees_only_the_region(catalog: Catalog, people: dict[str, Actor]) -> None:
    result = await _run(catalog, "by_region", people["zhou"])
    assert _table(result) == [("east", 5, 3, 2, 60.0, 3, 60.0, 40.0, 40.0, 60.0, 1)]
    result = await _run(catalog, "by_region", people["sun"])
    assert _table(result) == [("south", 2, 1, 0, 50.0, 0, 0.0, 100.0, 0.0, 100.0, 2)]
    result = await _run(catalog, "people", people["zhou"])
    assert _table(result) == [("agent1", 2, 0), ("agent2", 1, 1), (None, 2, 1)]  # 4 and 13 unassigned


async def test_staff_see_only_their_own_tickets(catalog: Catalog, people: dict[str, Actor]) -> None:
    """Alice raised 1, 2 and 13 in the range (7, 8 and 10 fall outside it)."""
    result = await _run(catalog, "by_region", people["alice"])
    assert _table(result) == [("east", 3, 3, 0, 100.0, 1, 33.33, 66.67, 33.33, 66.67, 1)]


async def test_nothing_in_scope_gives_no_rows(catalog: Catalog, people: dict[str, Actor]) -> None:
    outsider = Actor(id=999, username="nobody", roles=frozenset({"region_manager"}))
    assert (await _run(catalog, "by_region", outsider)).rows == []
    daily = await _run(catalog, "daily", outsider)
    assert [(r.values["created"], r.values["resolved"]) for r in daily.rows] == [(0, 0)] * 7


# --- ranges ----------------------------------------------------------------------------------


async def test_relative_ranges_count_from_now(catalog: Catalog, people: dict[str, Actor]) -> None:
    """NOW is 03-10 12:00 local: last_7_days is 03-04 … 03-10 (4, 5, 6, 13 and 7 on the 8th)."""
    result = await _run(catalog, "by_region", people["root"], spec_range="last_7_days")
    assert [(r.keys[0], r.values["created"]) for r in result.rows] == [("east", 3), ("south", 2)]
    assert result.plan.window is not None
    assert (result.plan.window.first.isoformat(), result.plan.window.last.isoformat()) == ("2026-03-04", "2026-03-10")
    result = await _run(catalog, "by_region", people["root"], spec_range="all")
    assert [(r.keys[0], r.values["created"]) for r in result.rows] == [("east", 8), ("south", 2), (None, 1)]


async def test_a_bucketed_report_refuses_all_time(catalog: Catalog, people: dict[str, Actor]) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _run(catalog, "daily", people["root"], spec_range="all")
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("range", "must be bounded for a report grouped by day, week or month")]
