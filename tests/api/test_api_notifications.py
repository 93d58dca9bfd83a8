"""In-app notifications, a ticket's deliveries and the outbox over HTTP, on SQLite and PostgreSQL.

Data comes from the real machinery: tickets through the API, then rounds of the real worker
delivering e-mail to a real SMTP server on 127.0.0.1, told to refuse a recipient for good so that
the message dead-letters with the server's reply (no chat webhook is configured, so chat channels
make no messages). The app runs its database pool on its own event loop; the worker and direct
inserts run there too (``on_app``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import pytest

from engine.runtime.auth.accounts import create_user
from engine.runtime.auth.tokens import create_token
from engine.runtime.notify.settings import NotifySettings, SmtpSettings
from engine.runtime.service import Catalogs
from engine.runtime.storage.database import is_postgres
from engine.runtime.storage.sql import fetch, sqlite_time
from engine.runtime.worker import Worker, WorkerRound
from engine.schema import Catalog
from tests.api.conftest import Api
from tests.runtime.notify.receivers import SmtpReceiver

pytestmark = pytest.mark.anyio

T = TypeVar("T")
REPAIR = {"device_no": "MO-0042", "device_type": "moulding", "area": "workshop_a", "stopped": True}
REFUSED = "550 5.1.1 Mailbox unavailable"


@pytest.fixture
def mail() -> Iterator[SmtpReceiver]:
    """A real SMTP server on 127.0.0.1 that refuses the next recipient for good."""
    receiver = SmtpReceiver().start()
    receiver.reject_next(1, REFUSED, at="RCPT")
    yield receiver
    receiver.stop()


def refused(mail: SmtpReceiver, key: str, to: str = "sun@example.com") -> str:
    """The dead letter's error: the server's reply, with the delivery id, address and server."""
    return f"e-mail {key} to {to} via 127.0.0.1:{mail.port}: recipient refused: {REFUSED}"


async def on_app(api: Api, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call`` on the app's event loop, where its database pool lives."""
    portal = api.client.blocking_portal
    return await anyio.to_thread.run_sync(portal.call, call)


async def run_worker(api: Api, catalog: Catalog, mail: SmtpReceiver, now: datetime | None = None) -> WorkerRound:
    settings = NotifySettings(smtp=SmtpSettings(host=mail.host, port=mail.port, sender="gongdan@example.com"),
                              base_url="https://gongdan.example.com")

    async def once() -> WorkerRound:
        worker = Worker(Catalogs(catalog), settings)
        try:
            return await worker.run_once(now or datetime.now(UTC))
        finally:
            await worker.aclose()

    return await on_app(api, once)


async def sql(api: Api, statement: str, *args: Any) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch(statement, *args)]

    return await on_app(api, go)


async def add_admin(api: Api) -> None:
    async def go() -> None:
        await create_user("root", None, roles=["admin"], org_unit="hq")
        api.tokens["root"] = await create_token("root", "tests")

    await on_app(api, go)


async def insert_notifications(api: Api, user: str, subjects: list[str], ticket_id: int | None = None) -> None:
    async def go() -> None:
        at: Any = datetime(2026, 11, 1, tzinfo=UTC)
        at = at if is_postgres() else sqlite_time(at)
        [row] = await fetch("SELECT id FROM users WHERE username = {}", user)
        for subject in subjects:
            await fetch("INSERT INTO notifications (user_id, ticket_id, subject, body, created_at) "
                        "VALUES ({}, {}, {}, {}, {})", row["id"], ticket_id, subject, f"about {subject}", at)

    await on_app(api, go)


async def raise_repair(api: Api) -> dict[str, Any]:
    r = await api.post("wang.worker", "/api/v1/tickets",
                       {"type": "equipment_repair", "title": "3号注塑机漏油", "fields": REPAIR})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_notifications_page_by_page_unread_read_and_read_all(api: Api) -> None:
    await insert_notifications(api, "li.mech", [f"n{i}" for i in range(1, 6)])
    await insert_notifications(api, "zhao.mech", ["not yours"])
    first = (await api.get("li.mech", "/api/v1/notifications?limit=2")).json()
    assert [i["subject"] for i in first["items"]] == ["n5", "n4"]  # newest first
    assert first["items"][0]["unread"] is True and first["items"][0]["read_at"] is None
    assert first["items"][0]["body"] == "about n5" and first["items"][0]["ticket_id"] is None
    second = (await api.get("li.mech", f"/api/v1/notifications?limit=2&cursor={first['next_cursor']}")).json()
    third = (await api.get("li.mech", f"/api/v1/notifications?limit=2&cursor={second['next_cursor']}")).json()
    assert [i["subject"] for i in second["items"]] == ["n3", "n2"]
    assert [i["subject"] for i in third["items"]] == ["n1"] and third["next_cursor"] is None

    assert (await api.get("li.mech", "/api/v1/notifications/unread-count")).json() == {"unread": 5, "capped": False}
    n4 = first["items"][1]["id"]
    read = await api.post("li.mech", f"/api/v1/notifications/{n4}/read")
    assert read.status_code == 200 and read.json()["subject"] == "n4" and read.json()["unread"] is False
    again = await api.post("li.mech", f"/api/v1/notifications/{n4}/read")
    assert again.status_code == 200 and again.json()["read_at"] == read.json()["read_at"]  # first read stays
    unread = (await api.get("li.mech", "/api/v1/notifications?unread=true")).json()
    assert [i["subject"] for i in unread["items"]] == ["n5", "n3", "n2", "n1"]
    assert (await api.get("li.mech", "/api/v1/notifications/unread-count")).json()["unread"] == 4

    theirs = (await api.get("zhao.mech", "/api/v1/notifications")).json()["items"][0]["id"]
    other = await api.post("li.mech", f"/api/v1/notifications/{theirs}/read")
    assert other.status_code == 404
    assert other.json() == {"status": 404, "title": "Not found", "code": "not_found",
                            "detail": f"notification {theirs} not found", "errors": []}
    assert (await api.post("li.mech", "/api/v1/notifications/99999999999/read")).status_code == 404

    done = await api.post("li.mech", "/api/v1/notifications/read-all")
    assert done.status_code == 200 and done.json() == {"marked": 4}
    assert (await api.get("li.mech", "/api/v1/notifications/unread-count")).json() == {"unread": 0, "capped": False}
    assert (await api.get("li.mech", "/api/v1/notifications?unread=true")).json() == {"items": [], "next_cursor": None}
    assert (await api.get("zhao.mech", "/api/v1/notifications/unread-count")).json()["unread"] == 1  # untouched


async def test_unread_count_stops_at_the_cap(api: Api) -> None:
    await insert_notifications(api, "li.mech", [f"n{i}" for i in range(150)])
    assert (await api.get("li.mech", "/api/v1/notifications/unread-count")).json() == {"unread": 100, "capped": True}


@pytest.mark.parametrize(("query", "field", "message"), [
    ("limit=0", "limit", "must be between 1 and 100"),
    ("limit=101", "limit", "must be between 1 and 100"),
    ("cursor=abc", "cursor", "is not a valid cursor"),
])
async def test_bad_list_parameters_name_the_field(api: Api, query: str, field: str, message: str) -> None:
    r = await api.get("li.mech", f"/api/v1/notifications?{query}")
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": field, "message": message}]


async def test_notifications_need_a_caller(api: Api) -> None:
    r = await api.client.get("/api/v1/notifications")
    assert r.status_code == 401


async def test_a_ticket_shows_staff_every_delivery_and_others_only_their_own(api: Api, catalog: Catalog,
                                                                            mail: SmtpReceiver) -> None:
    await sql(api, "UPDATE users SET email = 'sun@example.com' WHERE username = 'sun.lead'")
    ticket = await raise_repair(api)
    done = await run_worker(api, catalog, mail)
    assert (done.delivery.sent, done.delivery.dead) == (0, 1)  # the lead's e-mail was refused
    tid = ticket["id"]
    staff = await api.get("li.mech", f"/api/v1/tickets/{tid}/notifications")
    assert staff.status_code == 200
    rows = {(r["channel"], r["recipient"]): r for r in staff.json()}
    assert list(rows) == [("email", "sun.lead"), ("in_app", "sun.lead"), ("in_app", "zhao.mech"),
                          ("in_app", "li.mech")]  # newest first
    dead = rows[("email", "sun.lead")]
    assert (dead["status"], dead["address"], dead["attempts"], dead["sent_at"]) == ("dead", "sun@example.com", 1, None)
    assert dead["last_error"] == refused(mail, dead["key"])
    assert dead["source"] == "repair/line_stopped" and dead["subject"] == f"Line stopped: {ticket['number']}"
    assert dead["ticket_number"] == ticket["number"] and dead["ticket_id"] == tid
    in_app = rows[("in_app", "li.mech")]
    assert (in_app["status"], in_app["recipient_name"], in_app["last_error"]) == ("sent", "li.mech", None)
    assert in_app["source"] == "repair/new_fault" and in_app["sent_at"] is not None

    # the requester hears nothing until work starts, then sees only what was sent to them
    assert (await api.get("wang.worker", f"/api/v1/tickets/{tid}/notifications")).json() == []
    assert (await api.post("li.mech", f"/api/v1/tickets/{tid}/transitions/accept")).status_code == 200
    await run_worker(api, catalog, mail)
    [mine] = (await api.get("wang.worker", f"/api/v1/tickets/{tid}/notifications")).json()
    assert (mine["channel"], mine["recipient"], mine["status"]) == ("in_app", "wang.worker", "sent")
    assert mine["subject"] == f"{ticket['number']} accepted"
    assert (mine["source"], mine["last_error"], mine["key"]) == (None, None, None)  # for staff only
    assert len((await api.get("li.mech", f"/api/v1/tickets/{tid}/notifications")).json()) == 5
    inbox = (await api.get("wang.worker", "/api/v1/notifications")).json()["items"]
    assert [(i["subject"], i["ticket_id"], i["ticket_number"]) for i in inbox] == [
        (f"{ticket['number']} accepted", tid, ticket["number"])]

    outside = await api.get("staff.sh", f"/api/v1/tickets/{tid}/notifications")
    assert outside.status_code == 404 and outside.json()["detail"] == f"ticket {tid} not found"


async def test_admins_list_the_outbox_and_retry_dead_letters(api: Api, catalog: Catalog, mail: SmtpReceiver) -> None:
    await add_admin(api)
    await sql(api, "UPDATE users SET email = 'sun@example.com' WHERE username = 'sun.lead'")
    ticket = await raise_repair(api)
    await run_worker(api, catalog, mail)

    refused_403 = await api.get("sun.lead", "/api/v1/outbox?status=dead")
    assert refused_403.status_code == 403
    assert refused_403.json() == {"status": 403, "title": "Forbidden", "code": "permission_denied",
                                  "detail": "only admins may see the notification outbox", "errors": []}
    dead = (await api.get("root", "/api/v1/outbox?status=dead")).json()
    [letter] = dead["items"]
    assert (letter["channel"], letter["recipient"], letter["ticket_id"]) == ("email", "sun.lead", ticket["id"])
    assert letter["last_error"] == refused(mail, letter["key"]) and dead["next_cursor"] is None
    sent = (await api.get("root", "/api/v1/outbox?status=sent&limit=2")).json()
    assert [m["recipient"] for m in sent["items"]] == ["sun.lead", "zhao.mech"] and sent["next_cursor"]
    rest = (await api.get("root", f"/api/v1/outbox?status=sent&limit=2&cursor={sent['next_cursor']}")).json()
    assert [m["recipient"] for m in rest["items"]] == ["li.mech"] and rest["next_cursor"] is None
    assert len((await api.get("root", "/api/v1/outbox")).json()["items"]) == 4
    assert (await api.get("root", "/api/v1/outbox?status=pending")).json()["items"] == []
    bad = await api.get("root", "/api/v1/outbox?status=lost")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "status", "message": "must be one of: dead, pending, sent"}]

    assert (await api.post("sun.lead", f"/api/v1/outbox/{letter['id']}/retry")).status_code == 403
    retried = await api.post("root", f"/api/v1/outbox/{letter['id']}/retry")
    assert retried.status_code == 200
    body = retried.json()
    assert (body["status"], body["attempts"]) == ("pending", 0)
    assert body["last_error"] == letter["last_error"]  # why it died stays until it is sent
    conflict = await api.post("root", f"/api/v1/outbox/{letter['id']}/retry")
    assert conflict.status_code == 409
    assert conflict.json()["detail"] == f"message {letter['id']} is pending: only dead messages can be retried"
    assert (await api.post("root", f"/api/v1/outbox/{sent['items'][0]['id']}/retry")).status_code == 409
    missing = await api.post("root", "/api/v1/outbox/999999/retry")
    assert missing.status_code == 404 and missing.json()["detail"] == "message 999999 not found"

    # the next round sends it: the server takes the recipient this time
    again = await run_worker(api, catalog, mail)
    assert (again.delivery.sent, again.delivery.dead) == (1, 0)
    assert [m.recipients for m in mail.received] == [["sun@example.com"]]
    [row] = [m for m in (await api.get("root", "/api/v1/outbox?status=sent")).json()["items"]
             if m["id"] == letter["id"]]
    assert (row["attempts"], row["last_error"]) == (1, None) and row["sent_at"] is not None
    assert (await api.get("root", "/api/v1/outbox?status=dead")).json()["items"] == []
