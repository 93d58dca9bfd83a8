"""The repository API the ticket services build on: create, load, update, count, find, search."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.runtime import auth
from engine.runtime.errors import NotFound, StaleTicket
from engine.runtime.model import Actor
from engine.runtime.storage import (
    DuplicateRequest,
    NewEvent,
    NewTicket,
    close_database,
    configure,
    fetch_ticket,
    find_users,
    insert_ticket,
    is_foreign_key_violation,
    open_database,
    open_ticket_counts,
    route_candidates,
    search_clause,
    search_text_for,
    ticket_for_idempotency_key,
    ticket_select,
    transaction,
    update_ticket,
)
from engine.runtime.storage.sql import fetch
from engine.runtime.storage.tables import Approval, Ticket, TicketEvent

from .conftest import Backend

# the module, not the function the package exports under the same name
transaction_module = importlib.import_module("engine.runtime.storage.transaction")
pg_batch_module = importlib.import_module("engine.runtime.storage.pg_batch")

pytestmark = pytest.mark.anyio


async def _people() -> tuple[Actor, Actor, Actor]:
    # No passwords: argon2 is slow on purpose, and these tests are not about sign-in.
    ann = await auth.create_user("ann", None, roles=["worker"], org_unit="workshop_a")
    tom = await auth.create_user("tom", None, roles=["technician"], teams=["mechanical"], org_unit="factory")
    tim = await auth.create_user("tim", None, roles=["technician"], teams=["mechanical", "electrical"],
                                 org_unit="factory")
    return ann, tom, tim


def _new(requester: int, title: str = "3号冲床漏油", **kw: object) -> NewTicket:
    base: dict[str, object] = dict(
        type="equipment_repair", title=title, state="reported", state_category="open", priority="high",
        requester_id=requester, definition_version="v1", fields={"device_no": "MO-0042", "stopped": True},
        team="mechanical", org_unit="workshop_a")
    base.update(kw)
    return NewTicket(**base)  # type: ignore[arg-type]


async def test_insert_and_fetch(db: Backend) -> None:
    ann, tom, _ = await _people()
    due = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    t = await insert_ticket(_new(ann.id, assignee_id=tom.id, resolution_due_at=due), events=[
        NewEvent("created", actor_id=ann.id, to_state="reported"),
        NewEvent("routed", data={"rule": "moulding_to_mechanical"}),
    ])
    assert (t.id, t.number, t.requester, t.assignee, t.row_version) == (1, "GD-000001", "ann", "tom", 1)
    assert (t.requester_id, t.assignee_id, t.state_category, t.resolution_due_at) == (ann.id, tom.id, "open", due)
    assert t.fields == {"device_no": "MO-0042", "stopped": True}
    assert t.created_at is not None and t.created_at.tzinfo is not None
    assert t.values()["state"] == "reported"
    assert await fetch_ticket(t.id) == t
    assert await fetch_ticket(t.id, for_update=True) == t
    assert await fetch_ticket(999) is None

    second = await insert_ticket(_new(ann.id, "空调不制冷"))
    assert second.number == "GD-000002" and second.assignee is None

    events = await TicketEvent.select(TicketEvent.kind, TicketEvent.actor_id, TicketEvent.data).where(
        TicketEvent.ticket_id == t.id).order_by(TicketEvent.id).output(load_json=True).run()
    assert events == [{"kind": "created", "actor_id": ann.id, "data": {}},
                      {"kind": "routed", "actor_id": None, "data": {"rule": "moulding_to_mechanical"}}]

    await Approval.insert(Approval(ticket_id=t.id, approval_id="a", level_id="l1", approver_id=tom.id)).run()
    loaded = await fetch_ticket(t.id)
    assert loaded is not None and loaded.approvers == frozenset({"tom"})


async def test_failed_insert_leaves_nothing(db: Backend) -> None:
    ann, _, _ = await _people()
    with pytest.raises(Exception) as info:
        await insert_ticket(_new(ann.id, assignee_id=12345), events=[NewEvent("created")])
    assert is_foreign_key_violation(info.value)
    assert (await Ticket.count().run(), await TicketEvent.count().run()) == (0, 0)


async def test_transaction_groups_calls_and_rolls_back(db: Backend) -> None:
    ann, _, _ = await _people()
    with pytest.raises(RuntimeError):
        async with transaction():
            await insert_ticket(_new(ann.id))
            await insert_ticket(_new(ann.id))
            raise RuntimeError("boom")
    assert await Ticket.count().run() == 0


async def test_update_checks_row_version(db: Backend) -> None:
    ann, tom, _ = await _people()
    t = await insert_ticket(_new(ann.id))
    moved = await update_ticket(t.id, 1, {"state": "accepted", "state_category": "active", "assignee_id": tom.id},
                                events=[NewEvent("transition", actor_id=tom.id, from_state="reported",
                                                 to_state="accepted", data={"transition": "accept"})])
    assert (moved.state, moved.assignee, moved.row_version) == ("accepted", "tom", 2)
    assert moved.updated_at is not None and t.updated_at is not None and moved.updated_at >= t.updated_at

    with pytest.raises(StaleTicket) as info:
        await update_ticket(t.id, 1, {"state": "cancelled"}, events=[NewEvent("transition")])
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert await TicketEvent.count().where(TicketEvent.ticket_id == t.id).run() == 1
    with pytest.raises(NotFound):
        await update_ticket(999, 1, {"state": "x"})
    edited = await update_ticket(t.id, 2, {"fields": {"device_no": "MO-0043", "parts": ["轴承"]}})
    assert edited.fields == {"device_no": "MO-0043", "parts": ["轴承"]} and edited.row_version == 3
    with pytest.raises(KeyError, match="not updatable: number, row_version"):
        await update_ticket(t.id, 3, {"number": "GD-9", "row_version": 7})


async def test_idempotency_key(db: Backend) -> None:
    ann, tom, _ = await _people()
    t = await insert_ticket(_new(ann.id), idempotency_key="form-123")
    with pytest.raises(DuplicateRequest) as info:
        await insert_ticket(_new(ann.id), idempotency_key="form-123")
    assert info.value.ticket_id == t.id
    assert await ticket_for_idempotency_key(ann.id, "form-123") == t.id
    other = await insert_ticket(_new(tom.id), idempotency_key="form-123")  # keys are per user
    assert other.id != t.id
    assert await Ticket.count().run() == 2


async def test_open_ticket_counts(db: Backend) -> None:
    ann, tom, tim = await _people()
    for _ in range(2):
        await insert_ticket(_new(ann.id, assignee_id=tom.id))
    await insert_ticket(_new(ann.id, assignee_id=tim.id, state="done", state_category="resolved"))
    await insert_ticket(_new(ann.id, assignee_id=tim.id, state="in_repair", state_category="active"))
    assert await open_ticket_counts([tom.id, tim.id, ann.id]) == {tom.id: 2, tim.id: 1, ann.id: 0}
    assert await open_ticket_counts([]) == {}


async def test_routing_reads_open_counts_the_triggers_keep(db: Backend) -> None:
    """Routing reads each candidate's open tickets from a table triggers keep; it matches a count."""
    ann, tom, tim = await _people()

    async def routed() -> dict[int, int]:
        return {c.id: c.open_count for c in await route_candidates(roles=["technician"])}

    a = await insert_ticket(_new(ann.id, assignee_id=tom.id))
    b = await insert_ticket(_new(ann.id, assignee_id=tom.id))
    c = await insert_ticket(_new(ann.id, assignee_id=tim.id, state="done", state_category="resolved"))
    assert await routed() == await open_ticket_counts([tom.id, tim.id]) == {tom.id: 2, tim.id: 0}
    await update_ticket(a.id, a.row_version, {"assignee_id": tim.id})  # reassigned
    await update_ticket(b.id, b.row_version, {"state": "done", "state_category": "resolved"})  # closed
    await update_ticket(c.id, c.row_version, {"state": "in_repair", "state_category": "active"})  # reopened
    assert await routed() == await open_ticket_counts([tom.id, tim.id]) == {tom.id: 0, tim.id: 2}
    a2 = await fetch_ticket(a.id)
    assert a2 is not None
    await update_ticket(a.id, a2.row_version, {"assignee_id": None, "title": "unassigned"})
    await update_ticket(a.id, a2.row_version + 1, {"title": "no change to the count"})
    assert await routed() == await open_ticket_counts([tom.id, tim.id]) == {tom.id: 0, tim.id: 1}


async def test_find_users(db: Backend) -> None:
    ann, tom, tim = await _people()
    assert await find_users(role="technician") == [tom, tim]
    assert await find_users(team="electrical") == [tim]
    assert await find_users(role="technician", team="mechanical", org_units=["factory"]) == [tom, tim]
    assert await find_users(org_units=["workshop_a"]) == [ann]
    assert await find_users(org_units=[]) == []
    await auth.set_active(tom, False)
    assert await find_users(role="technician") == [tim]
    assert await find_users(role="technician", active_only=False) == [tom, tim]


async def _search(text: str, **where: object) -> list[str]:
    query = ticket_select().where(search_clause(text))
    for column, value in where.items():
        query = query.where(Ticket._meta.get_column_by_name(column) == value)
    return [r["number"] for r in await query.order_by(Ticket.id).run()]


async def test_substring_search_chinese_and_latin(db: Backend) -> None:
    ann, _, _ = await _people()
    await insert_ticket(_new(ann.id, "3号冲床漏油", fields={"device_no": "MO-0042", "note": "50%_done"}))
    await insert_ticket(_new(ann.id, "注塑机温度过高", org_unit="factory", fields={"device_no": "PR-0007"}))
    await insert_ticket(_new(ann.id, "Conveyor belt noise", fields={"device_no": "CV-1234"}))

    assert await _search("漏油") == ["GD-000001"]  # two characters: below a trigram
    assert await _search("冲床漏油") == ["GD-000001"]
    assert await _search("温度过高", org_unit="factory") == ["GD-000002"]
    assert await _search("温度过高", org_unit="workshop_a") == []
    assert await _search("mo-0042") == ["GD-000001"]  # case-insensitive
    assert await _search("BELT") == ["GD-000003"]
    assert await _search("conveyor  belt") == ["GD-000003"]  # spaces are part of the text
    assert await _search("GD-000002") == ["GD-000002"]
    assert await _search("50%_") == ["GD-000001"]  # wildcards are literal
    assert await _search("%") == ["GD-000001"]
    assert await _search('"') == []
    assert await _search("不存在的") == []

    t = await fetch_ticket(3)
    assert t is not None
    await update_ticket(3, t.row_version, {"search_text": "传送带异响"})
    assert await _search("传送带异响") == ["GD-000003"]
    assert await _search("belt") == []


def test_search_text_for() -> None:
    text = search_text_for("GD-000001", " 3号冲床\n漏油 ", {
        "device_no": "MO-0042", "stopped": True, "cost": 12.5, "parts": ["轴承", {"n": 2}], "photos": ["abc"],
        "empty": None,
    }, skip=["photos"])
    assert text == "GD-000001 3号冲床 漏油 MO-0042 12.5 轴承 2"


async def test_due_times_are_comparable(db: Backend) -> None:
    ann, _, _ = await _people()
    now = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    beijing = datetime(2030, 1, 2, 1, 0, tzinfo=timezone(timedelta(hours=8)))  # 17:00 UTC
    await insert_ticket(_new(ann.id, resolution_due_at=now + timedelta(hours=1)))
    await insert_ticket(_new(ann.id, resolution_due_at=beijing))
    await insert_ticket(_new(ann.id))
    overdue_at = now + timedelta(hours=2)
    rows = await Ticket.select(Ticket.number, Ticket.resolution_due_at).where(
        Ticket.resolution_due_at < overdue_at).run()
    assert [r["number"] for r in rows] == ["GD-000001"]
    t2 = await fetch_ticket(2)
    assert t2 is not None and t2.resolution_due_at == beijing


async def test_concurrent_write_transactions_commit_together_and_fail_alone(
    db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's engine: on SQLite a burst of write transactions shares one COMMIT, each in a
    savepoint of its own; on both engines a failing one writes nothing and the others all commit."""
    ann, _, _ = await _people()
    commits: list[int] = []
    original = transaction_module._commit_soon

    async def counting_commit(*args: Any) -> None:
        commits.append(1)
        await original(*args)

    monkeypatch.setattr(transaction_module, "_commit_soon", counting_commit)
    engine = await open_database(db.url)  # pooled, as the server opens it
    commits.clear()  # the schema check at opening commits too
    try:
        async def create(i: int) -> int:
            async with transaction():
                t = await insert_ticket(_new(ann.id, f"冲床漏油 {i}"), [NewEvent("created", ann.id)])
                if i == 3:
                    raise ValueError("refused after writing")
                return t.id

        results = await asyncio.gather(*[create(i) for i in range(8)], return_exceptions=True)
        assert isinstance(results[3], ValueError)
        ids = [r for r in results if isinstance(r, int)]
        assert len(ids) == 7
        if db.name == "sqlite":
            assert len(commits) == 1
        rows = await Ticket.select(Ticket.id, Ticket.number).order_by(Ticket.id).run()
        assert [r["id"] for r in rows] == sorted(ids)
        assert all(r["number"] == f"GD-{r['id']:06d}" for r in rows)
        assert await TicketEvent.count().run() == 7
        assert len(await ticket_select().where(search_clause("冲床漏油")).run()) == 7
    finally:
        await close_database(engine)
        configure(db.url)


async def test_plain_creates_share_a_transaction_and_fail_alone(db: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Creates outside a transaction on the server's PostgreSQL pool run as one pipelined batch with
    one COMMIT; a statement that fails writes nothing and fails only its caller (on SQLite each
    create is its own write transaction)."""
    ann, tom, _ = await _people()
    batches: list[int] = []
    original = pg_batch_module._run

    async def counting_run(engine: Any, sql: str, rows: list[Any]) -> Any:
        batches.append(len(rows))
        return await original(engine, sql, rows)

    monkeypatch.setattr(pg_batch_module, "_run", counting_run)
    engine = await open_database(db.url)
    try:
        async def create(i: int) -> int:
            requester = 2**31 - 1 if i == 5 else ann.id  # nobody: the foreign key refuses it
            t = await insert_ticket(_new(requester, f"冲床漏油 {i}", assignee_id=tom.id if i % 2 else None),
                                    [NewEvent("created", ann.id), NewEvent("assigned", None)])
            return t.id

        results = await asyncio.gather(*[create(i) for i in range(12)], return_exceptions=True)
        assert is_foreign_key_violation(results[5]), results[5]
        ids = [r for r in results if isinstance(r, int)]
        assert len(ids) == 11 == len(set(ids))
        if db.name == "postgres":
            assert batches == [12]  # one batch, rolled back for the bad statement, then one by one
        rows = await Ticket.select(Ticket.id, Ticket.number, Ticket.title).order_by(Ticket.id).run()
        assert [r["id"] for r in rows] == sorted(ids)
        assert all(r["number"] == f"GD-{r['id']:06d}" for r in rows)
        assert sorted(r["title"] for r in rows) == sorted(f"冲床漏油 {i}" for i in range(12) if i != 5)
        assert await TicketEvent.count().run() == 22
        assert await open_ticket_counts([tom.id]) == {tom.id: 5}  # 1, 3, 7, 9, 11

        batches.clear()
        ids = await asyncio.gather(*[create(i) for i in range(20) if i != 5])
        assert len(set(ids)) == 19
        if db.name == "postgres":
            assert batches == [19]
    finally:
        await close_database(engine)
        configure(db.url)


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
@pytest.mark.parametrize("follow", [1.0, 0.01])
async def test_a_batch_ready_while_the_one_before_runs_waits_for_it(
        db: Backend, monkeypatch: pytest.MonkeyPatch, follow: float) -> None:
    """One batch of a statement in PostgreSQL at a time: creates that come while a batch runs form
    the next one, which goes when the batch before it ends, taking every create that arrived
    meanwhile, or once it has waited FOLLOW seconds."""
    ann, _, _ = await _people()
    runs: list[tuple[int, float, float]] = []
    original = pg_batch_module._run
    loop = asyncio.get_running_loop()

    calls: list[int] = []

    async def slow_run(engine: Any, sql: str, rows: list[Any]) -> Any:
        began = loop.time()
        calls.append(len(rows))
        if len(calls) == 1:
            await asyncio.sleep(0.2)  # the first batch stays in PostgreSQL a while
        result = await original(engine, sql, rows)
        runs.append((len(rows), began, loop.time()))
        return result

    monkeypatch.setattr(pg_batch_module, "_run", slow_run)
    monkeypatch.setattr(pg_batch_module, "FOLLOW", follow)
    engine = await open_database(db.url)
    try:
        async def create(i: int) -> int:
            return (await insert_ticket(_new(ann.id, f"冲床漏油 {i}"), [NewEvent("created", ann.id)])).id

        first = [asyncio.ensure_future(create(i)) for i in range(4)]
        await asyncio.sleep(0.05)  # the first batch has gone
        later = []
        for i in range(4, 7):  # far apart: each alone would be a batch of its own
            later.append(asyncio.ensure_future(create(i)))
            await asyncio.sleep(0.02)
        ids = await asyncio.gather(*first, *later)
        assert len(set(ids)) == 7
        (first_size, _, first_end), *rest = sorted(runs, key=lambda r: r[1])
        assert first_size == 4
        if follow == 1.0:
            assert [size for size, _, _ in rest] == [3]
            assert rest[0][1] >= first_end  # sent once the batch before it had ended
        else:
            assert rest[0][1] < first_end  # waited FOLLOW at most, then went beside it
            assert sum(size for size, _, _ in rest) == 3
        assert await Ticket.count().run() == 7
    finally:
        await close_database(engine)
        configure(db.url)


async def test_server_indexes_new_tickets_in_batches(db: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's SQLite engine adds new tickets to the search index once a batch waits (or a
    while after the last batch); a search finds them all the time, indexed or not (PostgreSQL's
    trigram index is kept by every insert)."""
    ann, _, _ = await _people()
    monkeypatch.setattr(transaction_module, "INDEX_BATCH", 3)
    monkeypatch.setattr(transaction_module, "INDEX_DELAY", 3600.0)
    sqlite = db.name == "sqlite"
    engine = await open_database(db.url)  # pooled, as the server opens it
    try:
        async def indexed() -> int | None:
            if not sqlite:
                return None
            rows = await fetch("SELECT count(*) AS n FROM ticket_search WHERE ticket_search MATCH '\"冲床漏油\"'")
            return int(rows[0]["n"])

        async def create(i: int) -> None:
            async with transaction():
                await insert_ticket(_new(ann.id, f"冲床漏油 {i}"), [NewEvent("created", ann.id)])

        async def found(text: str = "冲床漏油") -> int:
            return len(await ticket_select().where(search_clause(text)).run())

        await create(0)
        await create(1)
        assert await indexed() == (0 if sqlite else None)
        assert await found() == 2
        await create(2)  # three wait: this commit indexes them
        assert await indexed() == (3 if sqlite else None)
        await create(3)
        assert await indexed() == (3 if sqlite else None)
        assert await found() == 4
        monkeypatch.setattr(transaction_module, "INDEX_DELAY", 0.0)
        await create(4)  # long enough since the last batch: both are indexed
        assert await indexed() == (5 if sqlite else None)
        assert await found("冲床漏油 4") == 1
    finally:
        await close_database(engine)
        configure(db.url)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_write_groups_journal_in_memory_and_reads_sort_on_disk(db: Backend) -> None:
    """On the server's SQLite engine a write group's savepoint journal stays in memory (no
    temporary file written per request); the connection's other uses get the default back."""
    engine = await open_database(db.url)  # pooled, as the server opens it
    try:
        async with transaction():
            inside = (await fetch("PRAGMA temp_store"))[0]["temp_store"]
        outside = (await fetch("PRAGMA temp_store"))[0]["temp_store"]
        assert (inside, outside) == (2, 0)  # MEMORY while the group lasts, DEFAULT after
    finally:
        await close_database(engine)
        configure(db.url)


async def test_search_finds_tickets_not_yet_indexed(db: Backend) -> None:
    """SQLite indexes new tickets when their transaction commits; rows written around it are
    still found (by a scan of the unindexed tail) and indexed by the next transaction."""
    ann, _, _ = await _people()
    await Ticket.insert(Ticket(type="repair", title="注塑机温度过高", state="reported", state_category="open",
                               priority="normal", requester_id=ann.id, definition_version="v",
                               number="GD-900001", search_text="GD-900001 注塑机温度过高")).run()
    found = await ticket_select().where(search_clause("温度过高")).run()
    assert [r["number"] for r in found] == ["GD-900001"]
    await insert_ticket(_new(ann.id, "温度过高 again"))
    found = await ticket_select().where(search_clause("温度过高")).order_by(Ticket.id).run()
    assert [r["title"] for r in found] == ["注塑机温度过高", "温度过高 again"]
    if db.name == "sqlite":
        rows = await Ticket.raw("SELECT rowid AS id FROM ticket_search WHERE ticket_search MATCH '\"温度过高\"'").run()
        assert len(rows) == 2  # both are in the index now
