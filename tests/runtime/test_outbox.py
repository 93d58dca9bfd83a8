"""Notifications end to end on both databases: events → outbox → real SMTP / HTTP receivers on 127.0.0.1.

The clock is injected everywhere; nothing sleeps except the test that kills a real worker process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.runtime.auth.accounts import create_user
from engine.runtime.model import Actor
from engine.runtime.notify.settings import NotifySettings, SmtpSettings, WebhookSettings
from engine.runtime.service import Catalogs, TicketService
from engine.runtime.storage.sql import fetch
from engine.runtime.sweep import sweep
from engine.runtime.worker import Worker
from engine.schema import Catalog, check_definitions
from tests.runtime.notify.receivers import HttpReceiver, SmtpReceiver
from tests.storage.conftest import Backend

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
AFTER_SALES = {"order_no": "202611110001234", "request_kind": "exchange", "customer_name": "周敏",
               "customer_phone": "13812345678", "description": "双十一购买的耳机，左耳完全没有声音。"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    result = check_definitions(ROOT / "definitions")
    assert result.catalog is not None
    return result.catalog


@pytest.fixture
def smtp() -> Any:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hook() -> Any:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


def _settings(smtp: SmtpReceiver, hook: HttpReceiver, **kw: Any) -> NotifySettings:
    return NotifySettings(
        smtp=SmtpSettings(host=smtp.host, port=smtp.port, sender="gongdan@example.com"),
        webhooks={"after_sales_wecom": WebhookSettings(url=hook.url("/wecom"))},
        base_url="https://gongdan.example.com", **kw,
    )


async def _people() -> dict[str, Actor]:
    out = {
        "customer": await create_user("customer", None, roles=["customer"], email="zhou@example.com",
                                      display_name="周敏"),
        "agent": await create_user("agent", None, roles=["customer_service"], teams=["after_sales"],
                                   org_unit="dept_service", email="agent@example.com", display_name="Liu Yang"),
        "aslead": await create_user("aslead", None, roles=["after_sales_lead"], teams=["after_sales"],
                                    org_unit="dept_service", email="lead@example.com"),
    }
    await fetch("UPDATE users SET language = 'zh' WHERE username = 'customer'")
    return out


async def _outbox(**where: Any) -> list[dict[str, Any]]:
    rows = await fetch("SELECT o.*, u.username AS recipient FROM notification_outbox o LEFT JOIN users u "
                       "ON u.id = o.recipient_id WHERE o.row_kind = 'message' ORDER BY o.id")
    return [dict(r) for r in rows if all(r[k] == v for k, v in where.items())]


async def test_a_new_request_reaches_the_customer_by_mail_and_in_app(db: Backend, catalog: Catalog, smtp: Any,
                                                                      hook: Any) -> None:
    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    ticket, _ = await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    worker = Worker(catalogs, _settings(smtp, hook))
    try:
        done = await worker.run_once(T0)
    finally:
        await worker.aclose()
    # two events: created (to the customer) and assigned by routing (to the agent it chose)
    assert (done.expanded, done.delivery.sent, done.delivery.dead) == (2, 2, 0)
    assert ticket.assignee == "agent"
    [mail] = [m for m in smtp.received if m.recipients == ["zhou@example.com"]]
    assert mail.recipients == ["zhou@example.com"]
    assert str(mail.message["Subject"]) == f"已收到您的售后申请 {ticket.number}"
    assert "订单 202611110001234" in mail.message.get_content()
    assert f"https://gongdan.example.com/tickets/{ticket.id}" in mail.message.get_content()
    [to_agent] = [m for m in smtp.received if m.recipients == ["agent@example.com"]]
    assert str(to_agent.message["Subject"]) == f"Assigned to you: {ticket.number}"
    assert str(to_agent.message["To"]) == "Liu Yang <agent@example.com>"
    in_app = await fetch("SELECT n.subject, u.username FROM notifications n JOIN users u ON u.id = n.user_id "
                         "ORDER BY n.id")
    assert [(r["username"], r["subject"]) for r in in_app] == [
        ("customer", f"已收到您的售后申请 {ticket.number}"), ("agent", f"Assigned to you: {ticket.number}")]
    sent = await _outbox()
    assert sorted((r["channel"], r["recipient"], r["status"]) for r in sent) == [
        ("email", "agent", "sent"), ("email", "customer", "sent"), ("in_app", "agent", "sent"),
        ("in_app", "customer", "sent")]
    # a second round finds nothing: the event was expanded once, the mail sent once
    worker = Worker(catalogs, _settings(smtp, hook))
    try:
        again = await worker.run_once(T0 + timedelta(minutes=5))
    finally:
        await worker.aclose()
    assert (again.expanded, again.delivery.sent) == (0, 0)
    assert len(smtp.received) == 2


async def test_sla_warning_posts_to_the_wecom_group_and_masks_nothing_it_should_not(
        db: Backend, catalog: Catalog, smtp: Any, hook: Any) -> None:
    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    ticket, _ = await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    await service.assign(people["aslead"], ticket.id, assignee="agent", team="after_sales")
    worker = Worker(catalogs, _settings(smtp, hook))
    try:
        await worker.run_once(T0)
        done = await worker.run_once(T0 + timedelta(hours=18))
    finally:
        await worker.aclose()
    assert done.sla.warnings == 1
    [post] = [r for r in hook.delivered if r.path == "/wecom"]
    body = post.json()
    assert body["msgtype"] == "markdown"
    assert "SLA warning" in body["markdown"]["content"] and ticket.number in body["markdown"]["content"]
    assert post.delivery_id is not None
    # the SLA action notifies the assignee and the team (in-app and e-mail), not the customer
    warned = await _outbox(source="sla/first_answer/warning/0")
    assert {(r["channel"], r["recipient"]) for r in warned} == {
        ("in_app", "agent"), ("email", "agent"), ("in_app", "aslead"), ("email", "aslead")}
    assert all("13812345678" not in r["body"] for r in await _outbox())


async def test_failed_delivery_is_retried_with_backoff_then_dead_lettered(db: Backend, catalog: Catalog,
                                                                          smtp: Any, hook: Any) -> None:
    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    smtp.reject_next(1, "451 4.3.0 Try again later")
    settings = _settings(smtp, hook, max_attempts=3, backoff_seconds=30)
    worker = Worker(catalogs, settings)
    try:
        first = await worker.run_once(T0)  # two mails: the customer's and the agent's; one is refused
        assert (first.delivery.sent, first.delivery.retried) == (1, 1)
        [row] = await _outbox(channel="email", status="pending")
        assert row["attempts"] == 1 and "451" in row["last_error"]
        assert (await worker.run_once(T0 + timedelta(seconds=29))).delivery.sent == 0  # backoff not over
        second = await worker.run_once(T0 + timedelta(seconds=30))
        assert second.delivery.sent == 1
        assert len(smtp.delivered) == 2
        # a permanent refusal dead-letters at once, with the reason for admins
        await service.create(people["customer"], "after_sales", "第二个问题", AFTER_SALES)
        smtp.reject_next(1, "550 5.1.1 No such mailbox")
        third = await worker.run_once(T0 + timedelta(minutes=1))
        assert (third.delivery.sent, third.delivery.dead) == (1, 1)
        dead = await _outbox(status="dead")
        assert len(dead) == 1 and "550" in dead[0]["last_error"]
    finally:
        await worker.aclose()


async def test_last_attempt_dead_letters(db: Backend, catalog: Catalog, smtp: Any, hook: Any) -> None:
    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    smtp.reject_next(4, "421 4.7.0 Busy")
    worker = Worker(catalogs, _settings(smtp, hook, max_attempts=2, backoff_seconds=10))
    try:
        assert (await worker.run_once(T0)).delivery.retried == 2
        assert (await worker.run_once(T0 + timedelta(seconds=10))).delivery.dead == 2
        assert (await worker.run_once(T0 + timedelta(hours=1))).delivery.sent == 0  # dead letters stay dead
    finally:
        await worker.aclose()
    rows = await _outbox(channel="email")
    assert [(r["status"], r["attempts"]) for r in rows] == [("dead", 2), ("dead", 2)]
    assert all("421" in r["last_error"] for r in rows)


def _run_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(check: Any, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


async def test_a_worker_killed_mid_delivery_is_replaced_and_the_message_arrives_once(
        db: Backend, catalog: Catalog, smtp: Any, hook: Any) -> None:
    people = await _people()
    catalogs = Catalogs(catalog)
    # raised 18 hours ago: its warning is due now and its breach in 6 hours, so the worker processes
    # (on the real clock) find only the warning's messages to deliver
    start = datetime.now(UTC) - timedelta(hours=18, minutes=1)
    service = TicketService(catalogs, clock=lambda: start)
    ticket, _ = await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    worker = Worker(catalogs, _settings(smtp, hook))
    try:
        await worker.run_once(start)
        warned_at = start + timedelta(hours=18)
        assert (await sweep(catalogs, warned_at)).warnings == 1
        assert await worker.outbox.expand(warned_at) == 1  # fired and expanded here; delivered by the workers
    finally:
        await worker.aclose()
    assert [r["status"] for r in await _outbox(channel="after_sales_wecom")] == ["pending"]
    env = {**os.environ, "DATABASE_URL": db.url, "GONGDAN_DEFINITIONS": str(ROOT / "definitions"),
           "GONGDAN_CHANNEL_AFTER_SALES_WECOM_URL": hook.url("/wecom"), "GONGDAN_NOTIFY_LEASE_SECONDS": "1",
           "GONGDAN_SMTP_HOST": smtp.host, "GONGDAN_SMTP_PORT": str(smtp.port), "GONGDAN_WORKER_POLL_SECONDS": "0.2"}
    hook.stall_next(1)
    first = _run_worker(env)
    try:
        assert _wait(lambda: any(r.path == "/wecom" for r in hook.requests)), "the worker never posted"
    finally:
        first.send_signal(signal.SIGKILL)  # killed while the receiver holds its request
        first.communicate(timeout=10)
    hook.release()
    second = _run_worker(env)
    try:
        assert _wait(lambda: any(r.path == "/wecom" for r in hook.delivered)), "the message never arrived"
        assert await _until_sent()
    finally:
        second.send_signal(signal.SIGTERM)
        out, _ = second.communicate(timeout=20)
    assert second.returncode == 0, out.decode()
    posts = [r for r in hook.requests if r.path == "/wecom"]
    assert len(posts) == 2 and len({r.delivery_id for r in posts}) == 1  # the same delivery id both times
    assert len([r for r in hook.delivered if r.path == "/wecom"]) == 1
    [row] = await _outbox(channel="after_sales_wecom")
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert ticket.number in json.dumps(posts[-1].json(), ensure_ascii=False)



async def _until_sent(timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = await fetch("SELECT status FROM notification_outbox WHERE channel = 'after_sales_wecom'")
        if rows and rows[0]["status"] == "sent":
            return True
        await asyncio.sleep(0.05)
    return False


async def test_channels_without_configuration_send_nothing_and_are_named_at_start(db: Backend,
                                                                                   catalog: Catalog) -> None:
    from engine.runtime.notify.outbox import unconfigured_channels

    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    worker = Worker(catalogs, NotifySettings())
    try:
        done = await worker.run_once(T0)
    finally:
        await worker.aclose()
    assert (done.expanded, done.delivery.sent, done.delivery.dead) == (2, 0, 0)
    assert {r["channel"] for r in await _outbox()} == {"in_app"}  # no e-mail rows without an SMTP server
    warnings = unconfigured_channels(catalog, NotifySettings())
    assert "e-mail is not configured (GONGDAN_SMTP_HOST): e-mail notifications are not sent" in warnings
    assert ("channel 'after_sales_wecom' has no URL (GONGDAN_CHANNEL_AFTER_SALES_WECOM_URL): its messages are "
            "not sent") in warnings


async def test_two_workers_deliver_each_message_once(db: Backend, catalog: Catalog, smtp: Any, hook: Any) -> None:
    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    for i in range(6):
        await service.create(people["customer"], "after_sales", f"问题 {i}", AFTER_SALES)
    one, two = Worker(catalogs, _settings(smtp, hook)), Worker(catalogs, _settings(smtp, hook))
    try:
        assert await one.outbox.expand(T0) + await two.outbox.expand(T0) == 12
        results = await asyncio.gather(one.outbox.deliver(T0, limit=4), two.outbox.deliver(T0, limit=4),
                                       one.outbox.deliver(T0, limit=4), two.outbox.deliver(T0, limit=4))
    finally:
        await one.aclose()
        await two.aclose()
    assert sum(r.sent for r in results) == 12  # six mails to the customer, six to the agent
    assert len(smtp.received) == 12 and not smtp.duplicates
    assert {r["status"] for r in await _outbox(channel="email")} == {"sent"}


async def test_approvers_hear_of_a_request_waiting_for_them(db: Backend, catalog: Catalog) -> None:
    from datetime import date

    employee = await create_user("employee", None, roles=["employee"], org_unit="dept_operations",
                                 display_name="Wu Xia")
    await create_user("manager", None, roles=["dept_manager"], org_unit="dept_operations")
    await create_user("hr", None, roles=["hr_approver"], org_unit="dept_hr")
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    start = date(2026, 10, 12)
    ticket, _ = await service.create(employee, "leave_request", "年假申请", {
        "leave_type": "annual", "start_date": start.isoformat(), "end_date": (start + timedelta(days=4)).isoformat(),
        "days": 5})
    await service.transition(employee, ticket.id, "submit")
    worker = Worker(catalogs, NotifySettings())
    try:
        await worker.run_once(T0)
    finally:
        await worker.aclose()
    rows = await fetch("SELECT u.username, n.subject FROM notifications n JOIN users u ON u.id = n.user_id")
    assert [(r["username"], r["subject"]) for r in rows] == [("manager", f"Approval needed: {ticket.number}")]


def _definitions_with(tmp: Path, files: dict[str, str], edit: dict[str, tuple[str, str]]) -> Catalog:
    root = tmp / "definitions"
    shutil.copytree(ROOT / "definitions", root)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    for name, (old, new) in edit.items():
        path = root / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
    result = check_definitions(root)
    assert result.catalog is not None, [d.render() for d in result.diagnostics]
    return result.catalog


COMMENTED = """apiVersion: gongdan/v1
kind: Notification
metadata: {name: comments}
spec:
  types: [after_sales]
  rules:
    - id: answered
      on: [commented]
      to: [{relation: requester}]
      channels: [in_app]
      subject: {en: "New answer on {{ ticket.number }}", zh: "{{ ticket.number }} 有新回复"}
      body: {en: "{{ event.actor_name }}: {{ event.comment }}", zh: "{{ event.actor_name }}：{{ event.comment }}"}
"""


async def test_a_public_comment_notifies_and_an_internal_note_does_not(db: Backend, tmp_path: Path) -> None:
    catalog = _definitions_with(tmp_path, {"notifications/comments.yaml": COMMENTED}, {})
    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    ticket, _ = await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    await service.comment(people["agent"], ticket.id, "内部备注：先查库存", internal=True)
    await service.comment(people["agent"], ticket.id, "请提供订单截图")
    worker = Worker(catalogs, NotifySettings())
    try:
        await worker.run_once(T0)
    finally:
        await worker.aclose()
    rows = await fetch("SELECT n.subject, n.body FROM notifications n JOIN users u ON u.id = n.user_id "
                       "WHERE u.username = 'customer' ORDER BY n.id")
    answers = [(r["subject"], r["body"]) for r in rows if "有新回复" in r["subject"]]
    assert answers == [(f"{ticket.number} 有新回复", "Liu Yang：请提供订单截图")]


async def test_a_breach_can_move_the_ticket_to_another_team(db: Backend, tmp_path: Path) -> None:
    from engine.runtime.sweep import sweep as run_sweep

    breach = "        - notify: [{role: after_sales_lead}]\n          raise_priority: high\n"
    catalog = _definitions_with(tmp_path, {}, {"sla/after_sales_24h.yaml": (
        breach, breach + "          reassign: it_support\n")})
    people = await _people()
    catalogs = Catalogs(catalog)
    service = TicketService(catalogs, clock=lambda: T0)
    ticket, _ = await service.create(people["customer"], "after_sales", "左耳没有声音", AFTER_SALES)
    assert (ticket.team, ticket.assignee) == ("after_sales", "agent")
    assert (await run_sweep(catalogs, T0 + timedelta(hours=24))).breaches == 1
    rows = await fetch("SELECT team, assignee_id, priority FROM tickets WHERE id = {}", ticket.id)
    assert (rows[0]["team"], rows[0]["assignee_id"], rows[0]["priority"]) == ("it_support", None, "high")
    events = await fetch("SELECT kind, data FROM ticket_events WHERE ticket_id = {} AND kind = 'assigned' "
                         "ORDER BY id", ticket.id)
    data = json.loads(events[-1]["data"]) if isinstance(events[-1]["data"], str) else events[-1]["data"]
    assert data == {"team": {"before": "after_sales", "after": "it_support"},
                    "assignee": {"before": "agent", "after": None}, "sla": "first_answer"}
