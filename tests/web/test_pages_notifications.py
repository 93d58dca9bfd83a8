"""The bell, the notifications page, SLA on the ticket page and lists, and dead letters for admins, as HTML.

Data comes from the real machinery on the app's own event loop (``on_app``): tickets raised by
``TicketService`` with an injected clock, rounds of the real ``Worker`` delivering e-mail to a real
SMTP server on 127.0.0.1 that refuses the first recipient for good (a dead letter with the server's
reply), or plain notification rows for the list tests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.render.templates import local_time
from engine.runtime.auth.accounts import actor_for_user, create_user
from engine.runtime.service import Catalogs, TicketService
from engine.schema import Catalog
from engine.web import sessions
from tests.api.test_api_notifications import (
    insert_notifications,
    mail,  # noqa: F401 - the SMTP server fixture
    on_app,
    refused,
    run_worker,
    sql,
)
from tests.runtime.notify.receivers import SmtpReceiver
from tests.web.conftest import Pages

pytestmark = pytest.mark.anyio

REPAIR = {"device_no": "MO-0042", "device_type": "moulding", "area": "workshop_a", "stopped": True}
HX = {"HX-Request": "true"}


def bell(html: str) -> str:
    match = re.search(r'<a class="bell" id="bell".*?</a>', html, re.S)
    assert match, "no bell on the page"
    return match.group(0)


async def ids_of(pages: Pages, user: str) -> list[int]:
    rows = await sql(pages.api, "SELECT n.id FROM notifications n JOIN users u ON u.id = n.user_id "
                                "WHERE u.username = {} ORDER BY n.id", user)
    return [r["id"] for r in rows]


async def test_the_bell_counts_unread_notifications_and_hides_at_zero(pages: Pages) -> None:
    await insert_notifications(pages.api, "li.mech", ["one", "two", "three"])
    await insert_notifications(pages.api, "zhao.mech", [f"n{i}" for i in range(120)])
    mine = bell((await pages.get("li.mech", "/")).text)
    assert 'aria-label="Notifications: 3 unread"' in mine and 'href="/notifications"' in mine
    assert '<span class="bell-count" data-count="3">3</span>' in mine
    many = bell((await pages.get("zhao.mech", "/tickets")).text)
    assert '<span class="bell-count" data-count="100">99+</span>' in many
    assert 'aria-label="Notifications: 99+ unread"' in many
    none = bell((await pages.get("wang.worker", "/")).text)
    assert 'aria-label="Notifications"' in none and "bell-count" not in none
    zh = bell((await pages.get("li.mech", "/", headers={"Accept-Language": "zh-CN"})).text)
    assert 'aria-label="通知：3 条未读"' in zh


async def test_the_notifications_page_marks_read_with_and_without_javascript(pages: Pages) -> None:
    ticket = await pages.api.post("wang.worker", "/api/v1/tickets",
                                  {"type": "equipment_repair", "title": "3号注塑机漏油", "fields": REPAIR})
    tid = ticket.json()["id"]
    await insert_notifications(pages.api, "li.mech", ["old news", "about a ticket"], ticket_id=tid)
    await insert_notifications(pages.api, "li.mech", ["newest"])
    old, about, newest = await ids_of(pages, "li.mech")

    page = await pages.get("li.mech", "/notifications")
    assert page.status_code == 200 and "<h1>Notifications</h1>" in page.text
    html = page.text
    assert html.index("newest") < html.index("about a ticket") < html.index("old news")  # newest first
    assert f'<li class="note unread" id="n-{about}">' in html
    assert f'href="/notifications/{about}/open"' in html and ticket.json()["number"] in html
    assert html.count(">Mark read</button>") == 3 and ">Mark all read</button>" in html

    # without JavaScript: a form post, then back to the list
    done = await pages.post("li.mech", f"/notifications/{old}/read", {})
    assert done.status_code == 303 and done.headers["location"] == "/notifications"
    after = (await pages.get("li.mech", "/notifications")).text
    assert f'<li class="note" id="n-{old}">' in after and 'data-count="2"' in bell(after)
    unread_only = (await pages.get("li.mech", "/notifications?unread=1")).text
    assert "old news" not in unread_only and "newest" in unread_only

    # with htmx: the item in place, and the bell out of band
    swapped = await pages.post("li.mech", f"/notifications/{newest}/read", {}, headers=HX)
    assert swapped.status_code == 200 and "<html" not in swapped.text
    assert swapped.text.startswith(f'<li class="note" id="n-{newest}">')
    assert "hx-swap-oob=\"true\"" in bell(swapped.text) and 'data-count="1"' in bell(swapped.text)

    # opening one marks it read and goes to its ticket
    opened = await pages.get("li.mech", f"/notifications/{about}/open")
    assert opened.status_code == 303 and opened.headers["location"] == f"/tickets/{tid}"
    assert "bell-count" not in bell((await pages.get("li.mech", "/notifications")).text)

    # another person's notification is not found, whichever way it is asked for
    theirs = (await ids_of(pages, "li.mech"))[0]
    assert (await pages.get("zhao.mech", f"/notifications/{theirs}/open")).status_code == 404
    assert (await pages.post("zhao.mech", f"/notifications/{theirs}/read", {})).status_code == 404
    forged = await pages.post("li.mech", f"/notifications/{theirs}/read", {}, csrf=False)
    assert forged.status_code == 403 and "The form has expired" in forged.text


async def test_mark_all_read_empties_the_count(pages: Pages) -> None:
    await insert_notifications(pages.api, "li.mech", ["a", "b"])
    plain = await pages.post("li.mech", "/notifications/read-all", {"unread": "1"})
    assert plain.status_code == 303 and plain.headers["location"] == "/notifications?unread=1"
    html = (await pages.get("li.mech", "/notifications?unread=1")).text
    assert "No unread notifications." in html and "Mark all read" not in html and "bell-count" not in bell(html)

    await insert_notifications(pages.api, "li.mech", ["c"])
    swapped = await pages.post("li.mech", "/notifications/read-all", {}, headers=HX)
    assert swapped.text.startswith('<div id="inbox"') and "<html" not in swapped.text
    assert '<li class="note" id="n-' in swapped.text and "Mark all read" not in swapped.text
    oob = bell(swapped.text)
    assert 'hx-swap-oob="true"' in oob and "bell-count" not in oob
    zh = (await pages.get("li.mech", "/notifications", headers={"Accept-Language": "zh-CN"})).text
    assert "<h1>通知</h1>" in zh and "未读" in zh


async def _repair_an_hour_ago(pages: Pages, catalog: Catalog) -> Any:
    """A stopped-line repair raised an hour ago: its 30-minute first response is overdue now."""
    past = datetime.now(UTC) - timedelta(hours=1)

    async def raise_it() -> Any:
        service = TicketService(Catalogs(catalog), clock=lambda: past)
        ticket, _ = await service.create(await actor_for_user("wang.worker"), "equipment_repair", "3号注塑机漏油",
                                         REPAIR)
        return ticket

    return await on_app(pages.api, raise_it)


async def test_ticket_page_shows_the_sla_the_system_s_steps_and_what_was_sent(pages: Pages, catalog: Catalog,
                                                                            mail: SmtpReceiver) -> None:  # noqa: F811
    await sql(pages.api, "UPDATE users SET email = 'sun@example.com' WHERE username = 'sun.lead'")
    ticket = await _repair_an_hour_ago(pages, catalog)
    done = await run_worker(pages.api, catalog, mail)
    assert (done.sla.warnings, done.sla.breaches) == (1, 1)
    response_due = ticket.created_at + timedelta(minutes=30)  # at high priority, when the sweep fired
    # what the block shows is what the API reports now (the breach raised the priority, which may move it)
    report = (await pages.api.get("li.mech", f"/api/v1/tickets/{ticket.id}")).json()["sla"]
    due = {r["target"]: r["due_at"] for r in report}
    assert [(r["target"], r["status"]) for r in report] == [("accept", "breached"), ("fix", "running")]

    html = (await pages.get("li.mech", f"/tickets/{ticket.id}")).text
    sla = html[html.index('id="sla"'):html.index("</section>", html.index('id="sla"'))]
    assert "<h2 id=\"h-sla\">Service level</h2>" in sla
    first, resolution = sla.split('<li class="sla-target"')[1:]
    assert "First response" in first and '<span class="sla-badge sla-breached">Breached</span>' in first
    assert f"due {local_time(due['accept'])}" in first
    assert "Resolution" in resolution and '<span class="sla-badge sla-running">On track</span>' in resolution
    assert f"due {local_time(due['fix'])}" in resolution
    assert "First response due" not in html  # the SLA block says it

    timeline = html[html.index('id="timeline"'):]
    warning = timeline[timeline.index('ev-sla_warning'):]
    assert f"<strong>System</strong> SLA warning: first response is due {local_time(response_due)}" in warning
    assert f"<strong>System</strong> SLA breached: first response was due {local_time(response_due)}" in timeline
    raised = timeline[timeline.index("ev-priority_changed"):]
    assert "<strong>System</strong> changed the priority" in raised
    assert '<div class="ev-detail">high → urgent</div>' in raised
    assert '<div class="ev-detail">by the SLA rule for first response</div>' in raised

    sent = html[html.index('id="deliveries"'):html.index("</section>", html.index('id="deliveries"'))]
    assert "<h2 id=\"h-deliveries\">Notifications sent</h2>" in sent
    [key] = [r["key"] for r in await sql(pages.api, "SELECT key FROM notification_outbox WHERE status = 'dead'")]
    letter = sent[sent.index('<li class="delivery-dead">'):]
    letter = letter[:letter.index("</li>")]
    assert '<span class="dstatus s-dead">Failed</span>' in letter
    assert '<span class="dchannel">E-mail</span> → <span class="dto">sun.lead</span>' in letter
    assert f'<div class="ev-detail derror">{refused(mail, key)}</div>' in letter
    assert sent.count('<span class="dchannel">In-app</span> → <span class="dto">sun.lead</span>') == 2
    # in the app: new fault ×2, line stopped, SLA warning and breach; one of the lead's two mails got through
    assert sent.count('<span class="dstatus s-sent">Sent</span>') == 6

    # the requester sees the SLA but not the deliveries, which are for staff
    mine = (await pages.get("wang.worker", f"/tickets/{ticket.id}")).text
    assert 'id="sla"' in mine and 'id="deliveries"' not in mine

    # in the viewer's time zone once the browser has reported it
    session = pages.sessions["li.mech"]
    pages.use({sessions.COOKIE: sessions.encode(session), "gongdan_tz": "America/New_York"})
    there = (await pages.client.get(f"/tickets/{ticket.id}")).text
    assert f"due {local_time(due['accept'], zone=ZoneInfo('America/New_York'))}" in there
    assert '<body data-tz="America/New_York">' in there
    pages.use({sessions.COOKIE: sessions.encode(session), "gongdan_tz": "../../etc/passwd"})
    assert f"due {local_time(due['accept'])}" in (await pages.client.get(f"/tickets/{ticket.id}")).text

    zh = (await pages.get("li.mech", f"/tickets/{ticket.id}", headers={"Accept-Language": "zh-CN"})).text
    assert "<h2 id=\"h-sla\">服务时效</h2>" in zh and "已超时" in zh and "已发送的通知" in zh
    assert f"<strong>系统</strong> 时效超时：首次响应 应于 {local_time(response_due)} 前完成" in zh
    assert "由首次响应时效规则触发" in zh


async def test_sla_filter_and_overdue_markers_on_lists(pages: Pages, catalog: Catalog) -> None:
    ticket = await _repair_an_hour_ago(pages, catalog)
    fresh = (await pages.api.post("wang.worker", "/api/v1/tickets",
                                  {"type": "equipment_repair", "title": "传送带异响", "fields": REPAIR})).json()
    overdue = await pages.get("sun.lead", "/tickets?sla=overdue")
    assert overdue.status_code == 200
    assert ticket.number in overdue.text and fresh["number"] not in overdue.text
    assert '<option value="overdue" selected>Overdue</option>' in overdue.text
    row = overdue.text[overdue.text.index(f">{ticket.number}<"):]
    assert '<span class="due overdue">Overdue</span>' in row[:row.index("</tr>")]
    soon = (await pages.get("sun.lead", "/tickets?sla=due_soon")).text
    assert fresh["number"] in soon and ticket.number not in soon
    paged = await pages.get("sun.lead", "/tickets?sla=overdue", headers={**HX, "HX-Target": "results"})
    assert paged.text.startswith("<table") or paged.text.lstrip().startswith("<table")
    ignored = await pages.get("sun.lead", "/tickets?sla=whenever")
    assert ignored.status_code == 200 and fresh["number"] in ignored.text and ticket.number in ignored.text

    home = (await pages.get("li.mech", "/")).text
    assert '<a class="due-link" href="/tickets?assignee=me&amp;category=open_all&amp;sla=overdue" id="overdue">' in home
    assert "1 of my tickets are past due" in home
    assert 'id="overdue"' not in (await pages.get("zhao.mech", "/")).text

    # the first response met (late): the ticket is no longer overdue anywhere
    assert (await pages.api.post("li.mech", f"/api/v1/tickets/{ticket.id}/transitions/accept")).status_code == 200
    after = (await pages.get("sun.lead", "/tickets")).text
    row = after[after.index(f">{ticket.number}<"):]
    assert "due overdue" not in row[:row.index("</tr>")]
    assert ticket.number not in (await pages.get("sun.lead", "/tickets?sla=overdue")).text
    assert 'id="overdue"' not in (await pages.get("li.mech", "/")).text
    page = (await pages.get("li.mech", f"/tickets/{ticket.id}")).text
    first = page[page.index('data-target="accept"'):]
    assert '<span class="sla-badge sla-breached sla-done">Met late</span>' in first[:first.index("</li>")]
    assert "met " in first[:first.index("</li>")]


async def test_admins_see_dead_letters_and_retry_them(pages: Pages, catalog: Catalog,
                                                     mail: SmtpReceiver) -> None:  # noqa: F811
    async def admin() -> int:
        return (await create_user("root", None, roles=["admin"], org_unit="hq")).id

    pages.ids["root"] = await on_app(pages.api, admin)
    await sql(pages.api, "UPDATE users SET email = 'sun@example.com' WHERE username = 'sun.lead'")
    ticket = await pages.api.post("wang.worker", "/api/v1/tickets",
                                  {"type": "equipment_repair", "title": "3号注塑机漏油", "fields": REPAIR})
    number = ticket.json()["number"]
    await run_worker(pages.api, catalog, mail)  # the lead's "line stopped" mail is refused
    assert (await pages.get("sun.lead", "/admin/notifications")).status_code == 404
    assert 'href="/admin/notifications"' not in (await pages.get("sun.lead", "/")).text

    html = (await pages.get("root", "/admin/notifications")).text
    assert '<a href="/admin/notifications" aria-current="page">Deliveries</a>' in html
    assert '<a href="/admin/notifications?status=dead" aria-current="page">Failed</a>' in html
    [(letter, row)] = re.findall(r'<li class="card delivery delivery-dead" id="m-(\d+)">(.*?)</li>', html, re.S)
    [key] = [r["key"] for r in await sql(pages.api, "SELECT key FROM notification_outbox WHERE status = 'dead'")]
    assert "<strong>E-mail</strong> → sun.lead" in row and refused(mail, key) in row
    assert f'<a href="/tickets/{ticket.json()["id"]}">{number}</a>' in row and "Attempts: 1" in row
    assert f'aria-label="Retry message {letter}">Retry</button>' in row

    # without JavaScript: back to the list with a notice; the message waits among the pending ones
    retried = await pages.post("root", f"/admin/notifications/{letter}/retry", {})
    assert retried.status_code == 303
    assert retried.headers["location"] == f"/admin/notifications?status=dead&retried={letter}"
    after = (await pages.get("root", retried.headers["location"])).text
    assert f"Message {letter} is queued for another attempt." in after and f'id="m-{letter}"' not in after
    pending = (await pages.get("root", "/admin/notifications?status=pending")).text
    assert f'<li class="card delivery delivery-pending" id="m-{letter}">' in pending
    assert refused(mail, key) in pending  # why it died stays until it is sent
    stale = await pages.post("root", f"/admin/notifications/{letter}/retry", {})
    assert stale.headers["location"] == "/admin/notifications?status=dead&stale=1"
    assert "no longer failed" in (await pages.get("root", stale.headers["location"])).text
    forged = await pages.post("root", f"/admin/notifications/{letter}/retry", {}, csrf=False)
    assert forged.status_code == 403

    # the next round delivers it; a second dead letter is then retried in place with htmx
    await run_worker(pages.api, catalog, mail)
    sent = (await pages.get("root", "/admin/notifications?status=sent")).text
    assert f'<li class="card delivery delivery-sent" id="m-{letter}">' in sent and refused(mail, key) not in sent
    mail.reject_next(1, "550 5.1.1 Mailbox unavailable", at="RCPT")
    await pages.api.post("wang.worker", "/api/v1/tickets",
                         {"type": "equipment_repair", "title": "传送带异响", "fields": REPAIR})
    await run_worker(pages.api, catalog, mail)
    [(second, _)] = re.findall(r'<li class="card delivery delivery-dead" id="m-(\d+)">(.*?)</li>',
                               (await pages.get("root", "/admin/notifications")).text, re.S)
    swapped = await pages.post("root", f"/admin/notifications/{second}/retry", {}, headers=HX)
    assert swapped.text.startswith(f'<li class="card delivery delivery-pending" id="m-{second}">')
    assert "Queued for another attempt." in swapped.text and ">Retry</button>" not in swapped.text
    zh = (await pages.get("root", "/admin/notifications", headers={"Accept-Language": "zh-CN"})).text
    assert "<h1>通知投递</h1>" in zh and "消息投递" in zh and "无法送达的消息" in zh
