"""SLA clocks through the ticket service and the sweep, on both databases, with an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.runtime.auth.accounts import create_user
from engine.runtime.model import Actor
from engine.runtime.service import Catalogs, TicketService
from engine.runtime.storage.tables import SlaDue, Ticket, TicketEvent
from engine.runtime.sweep import sweep
from engine.schema import Catalog, check_definitions
from tests.storage.conftest import Backend

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)  # Thursday 09:00 in Shanghai (a holiday there)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    result = check_definitions(ROOT / "definitions")
    assert result.catalog is not None
    return result.catalog


class Clock:
    """The service's "now", moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock(T0)


AFTER_SALES = {"order_no": "202611110001234", "request_kind": "exchange", "customer_name": "周敏",
               "customer_phone": "13812345678", "description": "双十一购买的耳机，左耳完全没有声音。"}
REPAIR = {"device_no": "MO-0003", "device_type": "moulding", "area": "workshop_a",
          "fault_description": "液压油从合模缸下方滴漏，已停机。"}


async def _people() -> dict[str, Actor]:
    return {
        "customer": await create_user("customer", None, roles=["customer"]),
        "agent": await create_user("agent", None, roles=["customer_service"], teams=["after_sales"],
                                   org_unit="dept_service"),
        "aslead": await create_user("aslead", None, roles=["after_sales_lead"], teams=["after_sales"],
                                    org_unit="dept_service"),
        "worker": await create_user("worker", None, roles=["worker"], org_unit="workshop_a"),
        "tech": await create_user("tech", None, roles=["technician"], teams=["mechanical"], org_unit="factory"),
        "mlead": await create_user("mlead", None, roles=["maintenance_lead"], org_unit="factory"),
    }


async def _events(ticket_id: int, *kinds: str) -> list[dict]:
    rows = await TicketEvent.select(TicketEvent.kind, TicketEvent.data).where(
        TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id).output(load_json=True).run()
    return [r for r in rows if not kinds or r["kind"] in kinds]


async def _row(ticket_id: int) -> dict:
    row = await Ticket.select().where(Ticket.id == ticket_id).first().run()
    assert row is not None
    due = await SlaDue.select(SlaDue.next_at).where(SlaDue.ticket_id == ticket_id).first().run()
    return {**row, "sla_next_at": due["next_at"] if due else None}


async def test_after_sales_warns_at_18h_and_breaches_at_24h_once(db: Backend, catalog: Catalog,
                                                                 clock: Clock) -> None:
    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    assert ticket.response_due_at == T0 + timedelta(hours=24)
    row = await _row(ticket.id)
    assert row["sla_next_at"] == T0 + timedelta(hours=18)  # the first-response warning comes first
    catalogs = Catalogs(catalog)

    r = await sweep(catalogs, T0 + timedelta(hours=17, minutes=59))
    assert (r.tickets, r.warnings, r.breaches) == (0, 0, 0)
    r = await sweep(catalogs, T0 + timedelta(hours=18))
    assert (r.tickets, r.warnings, r.breaches) == (1, 1, 0)
    r = await sweep(catalogs, T0 + timedelta(hours=18, minutes=1))
    assert (r.tickets, r.warnings, r.breaches) == (0, 0, 0)  # exactly once
    warned = await _events(ticket.id, "sla_warning")
    assert [(e["data"]["target"], e["data"]["threshold"]) for e in warned] == [("first_answer", "warning")]

    r = await sweep(catalogs, T0 + timedelta(hours=24))
    assert (r.tickets, r.warnings, r.breaches) == (1, 0, 1)
    breached = await _events(ticket.id, "sla_breached", "priority_changed")
    assert [e["kind"] for e in breached] == ["sla_breached", "priority_changed"]
    assert breached[1]["data"]["priority"] == {"before": "normal", "after": "high"}
    row = await _row(ticket.id)
    assert row["priority"] == "high" and row["row_version"] == 2
    assert row["response_due_at"] == T0 + timedelta(hours=24)  # judged by the due time it breached at
    # the resolution target now runs on the high-priority time (48h), its warning at 75 %
    assert row["resolution_due_at"] == T0 + timedelta(hours=48)
    assert row["sla_next_at"] == T0 + timedelta(hours=36)
    assert (await sweep(catalogs, T0 + timedelta(hours=30))).tickets == 0


async def test_first_response_meets_the_target_and_pauses_stop_the_clock(db: Backend, catalog: Catalog,
                                                                         clock: Clock) -> None:
    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(people["customer"], "after_sales", "耳机", AFTER_SALES)
    await service.assign(people["aslead"], ticket.id, assignee="agent", team="after_sales")
    clock.at = T0 + timedelta(hours=2)
    await service.transition(people["agent"], ticket.id, "start")
    row = await _row(ticket.id)
    assert row["first_response_at"] == T0 + timedelta(hours=2)
    assert row["first_response_seconds"] == 2 * 3600
    assert row["response_due_at"] == T0 + timedelta(hours=24)  # kept, so reports can compare
    # normal priority: resolve within 72h, warning at 54h
    assert row["resolution_due_at"] == T0 + timedelta(hours=72)
    assert row["sla_next_at"] == T0 + timedelta(hours=54)

    clock.at = T0 + timedelta(hours=10)
    await service.transition(people["agent"], ticket.id, "ask_customer", comment="请提供订单截图")
    row = await _row(ticket.id)
    assert row["resolution_due_at"] is None and row["sla_next_at"] is None  # paused: no due time
    assert (await sweep(Catalogs(catalog), T0 + timedelta(days=5))).tickets == 0

    clock.at = T0 + timedelta(hours=30)  # the customer answers 20 hours later
    await service.transition(people["customer"], ticket.id, "customer_replied")
    row = await _row(ticket.id)
    assert row["resolution_due_at"] == T0 + timedelta(hours=92)
    assert row["sla_next_at"] == T0 + timedelta(hours=74)


async def test_repair_escalates_an_unaccepted_fault_to_the_lead(db: Backend, catalog: Catalog,
                                                                clock: Clock) -> None:
    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(people["worker"], "equipment_repair", "注塑机漏油", REPAIR)
    row = await _row(ticket.id)
    assert row["response_due_at"] is not None
    due = row["response_due_at"]
    r = await sweep(Catalogs(catalog), due)
    assert r.breaches == 1
    events = await _events(ticket.id, "sla_breached", "priority_changed")
    assert events[0]["data"]["target"] == "accept"
    assert events[1]["data"]["priority"]["after"] == "urgent"
    outbox = await Ticket.raw(
        "SELECT count(*) AS n FROM notification_outbox o JOIN ticket_events e ON e.id = o.event_id "
        "WHERE o.row_kind = 'event' AND e.kind = 'sla_breached' AND o.ticket_id = {}", ticket.id).run()
    assert outbox[0]["n"] == 1  # the outbox row was written with the event
    from engine.runtime.notify.settings import NotifySettings
    from engine.runtime.storage.sql import fetch
    from engine.runtime.worker import Worker

    worker = Worker(Catalogs(catalog), NotifySettings())
    try:
        await worker.run_once(due)
    finally:
        await worker.aclose()
    rows = await fetch("SELECT u.username, n.subject FROM notifications n JOIN users u ON u.id = n.user_id "
                       "WHERE n.subject LIKE '[SLA%'")
    # the warning reaches the technician it was routed to, the breach the maintenance lead
    assert sorted((r["username"], r["subject"]) for r in rows) == [
        ("mlead", f"[SLA breached] {ticket.number} 注塑机漏油"), ("tech", f"[SLA warning] {ticket.number} 注塑机漏油")]


async def test_overdue_and_due_soon_filters(db: Backend, catalog: Catalog, clock: Clock) -> None:
    from engine.runtime.permissions import scope_rules
    from engine.runtime.storage.queries import TicketFilter, list_tickets

    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    answered, _ = await service.create(people["customer"], "after_sales", "已答复", AFTER_SALES)
    waiting, _ = await service.create(people["customer"], "after_sales", "未答复", AFTER_SALES)
    await service.assign(people["aslead"], answered.id, assignee="agent", team="after_sales")
    clock.at = T0 + timedelta(hours=1)
    await service.transition(people["agent"], answered.id, "start")
    rules = scope_rules(catalog, people["aslead"])

    async def numbers(which: str, at: datetime) -> list[str]:
        rows, _ = await list_tickets(rules, TicketFilter(sla=which, now=at))
        return sorted(t.number for t in rows)

    # first response due at T0+24h for both; only the unanswered one can be late on it
    assert await numbers("due_soon", T0 + timedelta(hours=21)) == [waiting.number]
    assert await numbers("overdue", T0 + timedelta(hours=21)) == []
    assert await numbers("overdue", T0 + timedelta(hours=25)) == [waiting.number]
    # resolution (72h at normal priority) is late for both after three days
    assert await numbers("overdue", T0 + timedelta(hours=73)) == [answered.number, waiting.number]
    assert await numbers("due_soon", T0 + timedelta(hours=73)) == []


async def test_due_soon_finds_a_ticket_whose_other_target_has_no_due_time(db: Backend, catalog: Catalog,
                                                                            clock: Clock) -> None:
    from engine.runtime.permissions import scope_rules
    from engine.runtime.storage.queries import TicketFilter, list_tickets

    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(people["customer"], "after_sales", "只有解决时限", AFTER_SALES)
    await Ticket.update({Ticket.response_due_at: None}).where(Ticket.id == ticket.id).run()
    rows, _ = await list_tickets(scope_rules(catalog, people["aslead"]),
                                 TicketFilter(sla="due_soon", now=T0 + timedelta(hours=70)))
    assert [t.number for t in rows] == [ticket.number]


@pytest.mark.parametrize(
    ("raised", "warns", "due"),
    [
        # Friday 17:00 in Shanghai: one office hour on Friday, the weekend skipped, Monday 09:00-12:00
        (datetime(2026, 9, 25, 9, 0, tzinfo=UTC), datetime(2026, 9, 28, 3, 0, tzinfo=UTC),
         datetime(2026, 9, 28, 4, 0, tzinfo=UTC)),
        # the eve of the National Day holidays: Oct 1-2 and 5-7 off, Oct 3-4 a weekend; due Thursday Oct 8
        (datetime(2026, 9, 30, 9, 0, tzinfo=UTC), datetime(2026, 10, 8, 3, 0, tzinfo=UTC),
         datetime(2026, 10, 8, 4, 0, tzinfo=UTC)),
        # raised at night: the clock starts at 09:00, lunch 12:00-13:00 does not count
        (datetime(2026, 9, 23, 14, 0, tzinfo=UTC), datetime(2026, 9, 24, 4, 0, tzinfo=UTC),
         datetime(2026, 9, 24, 6, 0, tzinfo=UTC)),
    ],
    ids=["weekend", "holidays", "night-and-lunch"],
)
async def test_office_hours_clock_over_nights_weekends_and_holidays(
        db: Backend, catalog: Catalog, clock: Clock, raised: datetime, warns: datetime, due: datetime) -> None:
    employee = await create_user("employee", None, roles=["employee"], org_unit="dept_operations")
    clock.at = raised
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(employee, "it_helpdesk", "笔记本无法连接VPN",
                                     {"category": "network", "location": "运营部 3F", "urgency": "medium"})
    row = await _row(ticket.id)
    assert (row["response_due_at"], row["sla_next_at"]) == (due, warns)  # 4 office hours, warning at 75 %
    catalogs = Catalogs(catalog)
    assert (await sweep(catalogs, warns - timedelta(seconds=1))).warnings == 0
    assert (await sweep(catalogs, warns)).warnings == 1
    assert (await sweep(catalogs, due)).breaches == 1
    clock.at = due
    status = await service.sla_status(await service.get(employee, ticket.id))
    assert [(s["target"], s["status"]) for s in status] == [("first_answer", "breached"), ("fix", "running")]


async def test_two_sweeps_at_once_fire_each_threshold_once(db: Backend, catalog: Catalog, clock: Clock) -> None:
    import asyncio

    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    made = [(await service.create(people["customer"], "after_sales", f"问题 {i}", AFTER_SALES))[0] for i in range(12)]
    at = T0 + timedelta(hours=24)  # every ticket's warning and breach are due
    first, second = await asyncio.gather(sweep(Catalogs(catalog), at, batch=5), sweep(Catalogs(catalog), at, batch=5))
    assert first.warnings + second.warnings == 12 and first.breaches + second.breaches == 12
    for ticket in made:
        fired = await _events(ticket.id, "sla_warning", "sla_breached")
        assert [e["kind"] for e in fired] == ["sla_warning", "sla_breached"]


async def test_a_priority_change_moves_the_running_targets(db: Backend, catalog: Catalog, clock: Clock) -> None:
    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(people["customer"], "after_sales", "加急处理", AFTER_SALES)
    assert (await _row(ticket.id))["resolution_due_at"] == T0 + timedelta(hours=72)  # normal: 72h
    clock.at = T0 + timedelta(hours=1)
    await service.edit(people["aslead"], ticket.id, priority="urgent")
    row = await _row(ticket.id)
    assert row["resolution_due_at"] == T0 + timedelta(hours=24)  # urgent: 24h from the same start
    assert row["response_due_at"] == T0 + timedelta(hours=24)  # one duration for every priority
    assert row["sla_next_at"] == T0 + timedelta(hours=18)


async def test_rebuild_replays_the_history_of_tickets_without_clocks(db: Backend, catalog: Catalog,
                                                                     clock: Clock) -> None:
    from engine.runtime.slarebuild import rebuild_clocks
    from engine.runtime.storage.sql import fetch

    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(people["customer"], "after_sales", "升级前的工单", AFTER_SALES)
    await service.assign(people["aslead"], ticket.id, assignee="agent", team="after_sales")
    clock.at = T0 + timedelta(hours=2)
    await service.transition(people["agent"], ticket.id, "start")
    clock.at = T0 + timedelta(hours=10)
    await service.transition(people["agent"], ticket.id, "ask_customer", comment="请提供订单截图")
    clock.at = T0 + timedelta(hours=30)
    await service.transition(people["customer"], ticket.id, "customer_replied")
    expected = await _row(ticket.id)
    # as a ticket raised before SLA clocks existed: no clocks, no due times, no sweep row
    await Ticket.update({Ticket.sla: {}, Ticket.response_due_at: None, Ticket.resolution_due_at: None}).where(
        Ticket.id == ticket.id).run()
    await fetch("DELETE FROM sla_due WHERE ticket_id = {}", ticket.id)
    # the customer's 20 hours are a pause: the resolution warning (74h) and breach (92h) are ahead
    assert await rebuild_clocks(Catalogs(catalog), T0 + timedelta(hours=50)) == 1
    row = await _row(ticket.id)
    for column in ("response_due_at", "resolution_due_at", "sla_next_at", "first_response_seconds"):
        assert row[column] == expected[column], column
    assert await rebuild_clocks(Catalogs(catalog), T0 + timedelta(hours=50)) == 0  # once


async def test_rebuild_marks_what_passed_before_it_as_fired_without_events(db: Backend, catalog: Catalog,
                                                                          clock: Clock) -> None:
    from engine.runtime.slarebuild import rebuild_clocks

    people = await _people()
    service = TicketService(Catalogs(catalog), clock=clock)
    ticket, _ = await service.create(people["customer"], "after_sales", "无人答复", AFTER_SALES)
    await Ticket.update({Ticket.sla: {}}).where(Ticket.id == ticket.id).run()
    assert await rebuild_clocks(Catalogs(catalog), T0 + timedelta(hours=30)) == 1
    row = await _row(ticket.id)
    assert row["response_due_at"] == T0 + timedelta(hours=24)  # still overdue in lists
    assert row["sla_next_at"] == T0 + timedelta(hours=54)  # the resolution warning is still ahead
    assert (await sweep(Catalogs(catalog), T0 + timedelta(hours=31))).tickets == 0
    assert await _events(ticket.id, "sla_warning", "sla_breached") == []
